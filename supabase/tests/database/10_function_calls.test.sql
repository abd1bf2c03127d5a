-- private.call_function: how pg_cron reaches edge functions. Without pg_net (the local stack)
-- it does nothing; with it, it POSTs to the functions URL kept in Vault with the service key.
-- pg_net and Vault are not packaged for Debian, so stand-ins with their real signatures are
-- created inside this file's transaction and vanish at its rollback.
begin;
\ir _helpers.psql

select plan(8);

do $$ begin perform tests.create_user('alice'); end $$;

select is(private.call_function('/dispatch'), null, 'without pg_net nothing is called');

create schema net;
create table net.requests (id bigserial, url text, body jsonb, headers jsonb, timeout_milliseconds int);
create function net.http_post(url text, body jsonb, headers jsonb, timeout_milliseconds int)
returns bigint
language sql
as $$
  insert into net.requests (url, body, headers, timeout_milliseconds)
  values (url, body, headers, timeout_milliseconds)
  returning id
$$;

select is(private.call_function('/dispatch'), null,
  'with pg_net but without Vault, nothing is called (there is no URL or key)');

create schema vault;
create table vault.decrypted_secrets (name text, decrypted_secret text);

select is(private.call_function('/dispatch'), null,
  'with Vault but without the two secrets, nothing is called');
select is((select count(*)::int from net.requests), 0, 'and no request was queued');

insert into vault.decrypted_secrets values
  ('beacon_functions_url', 'https://ref.supabase.co/functions/v1/'),
  ('beacon_service_key', 'sb_secret_test');

select isnt(private.call_function('/oauth/refresh', '{"user_ids": []}'), null,
  'with pg_net and both secrets it returns the request id');
select results_eq(
  $$select url, body, headers, timeout_milliseconds from net.requests$$,
  $$values ('https://ref.supabase.co/functions/v1/oauth/refresh', '{"user_ids": []}'::jsonb,
            '{"Authorization": "Bearer sb_secret_test", "Content-Type": "application/json"}'::jsonb,
            30000)$$,
  'it POSTs to the functions URL plus the path, with the service key and a JSON body'
);

-- Only postgres (pg_cron's jobs) may call it.
select tests.authenticate_as_service_role();
select throws_ok($$select private.call_function('/dispatch')$$, '42501', null,
  'the service role cannot call it');
select tests.authenticate_as('alice');
select throws_ok($$select private.call_function('/dispatch')$$, '42501', null,
  'a signed-in user cannot call it');

select * from finish();
rollback;
