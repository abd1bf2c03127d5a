-- OAuth connections (issue 3): private.oauth_states belongs to the oauth function alone
-- (no client role, not even service_role through PostgREST, can reach it); the state that
-- social_connections gained is readable by its owner and writable by nobody but the
-- service; the token columns stay unreadable; status follows is_active; the cron jobs
-- exist once, under stable names.
begin;
\ir _helpers.psql

select plan(86);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

-- private.oauth_states: shape ---------------------------------------------------------------

select has_table('private', 'oauth_states', 'private.oauth_states exists');
select columns_are('private', 'oauth_states',
  array['state_hash', 'user_id', 'platform', 'code_verifier', 'redirect_to', 'created_at', 'expires_at',
        'browser_hash', 'purge_error'],
  'private.oauth_states keeps hashes, never the state or the browser''s nonce itself');
select col_is_pk('private', 'oauth_states', 'state_hash', 'the state hash is the key');
select col_type_is('private', 'oauth_states', 'state_hash', 'bytea', 'state_hash is bytes');
select fk_ok('private', 'oauth_states', 'user_id', 'auth', 'users', 'id', 'states belong to auth users');
select has_index('private', 'oauth_states', 'oauth_states_user_id_idx', array['user_id'],
  'the foreign key is indexed');
select has_index('private', 'oauth_states', 'oauth_states_expires_at_idx', array['expires_at'],
  'the purge finds expired states by index');
select isnt(obj_description('private.oauth_states'::regclass, 'pg_class'), null,
  'private.oauth_states has a comment');

-- A state as the function stores it.
insert into private.oauth_states (state_hash, user_id, platform, code_verifier, redirect_to)
values (extensions.digest('state-1', 'sha256'), tests.get_user_id('alice'), 'twitter',
        repeat('v', 43), 'https://app.example.com/connections');

select is(
  (select expires_at - created_at from private.oauth_states
   where state_hash = extensions.digest('state-1', 'sha256')),
  interval '10 minutes',
  'a state expires ten minutes after it is made');

-- private.oauth_states: nobody but the function's own role -------------------------------

select ok(
  not has_table_privilege(r, 'private.oauth_states', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER'),
  format('%s has no privilege on private.oauth_states', r))
from unnest(array['anon', 'authenticated', 'service_role']) with ordinality as t (r, n)
order by n;

select ok(not has_schema_privilege(r, 'private', 'USAGE'),
  format('%s cannot use the private schema', r))
from unnest(array['anon', 'authenticated', 'service_role']) with ordinality as t (r, n)
order by n;

-- ==== acting as alice (signed in) ====
select tests.authenticate_as('alice');
select throws_ok($$select * from private.oauth_states$$, '42501', null,
  'authenticated cannot read private.oauth_states, not even her own states');
select throws_ok(
  $$insert into private.oauth_states (state_hash, user_id, platform, redirect_to)
    values (extensions.digest('forged', 'sha256'), auth.uid(), 'twitter', 'https://evil.example/')$$,
  '42501', null, 'authenticated cannot plant a state');
select throws_ok($$delete from private.oauth_states$$, '42501', null,
  'authenticated cannot delete states');
select throws_ok($$select private.purge_expired_oauth_states()$$, '42501', null,
  'authenticated cannot run the purge');

-- ==== acting as a visitor (anon) ====
select tests.authenticate_as_anon();
select throws_ok($$select * from private.oauth_states$$, '42501', null,
  'anon cannot read private.oauth_states');
select throws_ok($$update private.oauth_states set expires_at = now() + interval '1 day'$$, '42501', null,
  'anon cannot extend a state');

-- ==== acting as service_role (PostgREST with the service key) ====
select tests.authenticate_as_service_role();
select throws_ok($$select * from private.oauth_states$$, '42501', null,
  'service_role cannot reach it through the API either');

-- ==== back to postgres (the functions' connection) ====
select tests.clear_authentication();

-- private.oauth_states: constraints ---------------------------------------------------------

select throws_ok(
  $$insert into private.oauth_states (state_hash, user_id, platform, redirect_to)
    values ('\x00'::bytea, tests.get_user_id('alice'), 'twitter', 'https://app.example.com/')$$,
  '23514', null, 'a state hash is 32 bytes');
select throws_ok(
  $$insert into private.oauth_states (state_hash, user_id, platform, redirect_to)
    values (extensions.digest('s2', 'sha256'), tests.get_user_id('alice'), 'myspace', 'https://app.example.com/')$$,
  '23514', null, 'the platform is a known one');
select throws_ok(
  $$insert into private.oauth_states (state_hash, user_id, platform, code_verifier, redirect_to)
    values (extensions.digest('s3', 'sha256'), tests.get_user_id('alice'), 'twitter', 'short', 'https://app.example.com/')$$,
  '23514', null, 'a PKCE verifier is 43 to 128 unreserved characters');
select throws_ok(
  $$insert into private.oauth_states (state_hash, user_id, platform, redirect_to)
    values (extensions.digest('s4', 'sha256'), tests.get_user_id('alice'), 'twitter', 'javascript:alert(1)')$$,
  '23514', null, 'redirect_to is an http(s) URL');
select throws_ok(
  $$insert into private.oauth_states (state_hash, user_id, platform, redirect_to, created_at, expires_at)
    values (extensions.digest('s5', 'sha256'), tests.get_user_id('alice'), 'twitter', 'https://app.example.com/',
            now(), now() - interval '1 second')$$,
  '23514', null, 'a state cannot expire before it was made');
select throws_ok(
  $$insert into private.oauth_states (state_hash, user_id, platform, redirect_to)
    values (extensions.digest('state-1', 'sha256'), tests.get_user_id('alice'), 'twitter', 'https://app.example.com/')$$,
  '23505', null, 'a state exists once');

select throws_ok(
  $$insert into private.oauth_states (state_hash, user_id, platform, redirect_to, browser_hash)
    values (extensions.digest('s6', 'sha256'), tests.get_user_id('alice'), 'twitter', 'https://app.example.com/',
            '\x0102'::bytea)$$,
  '23514', null, 'a browser hash is 32 bytes');

-- Consuming is single-use: the second `delete ... returning` finds nothing.
select * from tests.affects(
  $$delete from private.oauth_states where state_hash = extensions.digest('state-1', 'sha256') returning user_id$$,
  1, 'the callback consumes a state');
select * from tests.affects(
  $$delete from private.oauth_states where state_hash = extensions.digest('state-1', 'sha256') returning user_id$$,
  0, 'a replayed state finds nothing');

-- The purge takes the expired states only; a user's deletion takes theirs.
insert into private.oauth_states (state_hash, user_id, platform, redirect_to, created_at, expires_at)
values
  (extensions.digest('old', 'sha256'), tests.get_user_id('alice'), 'linkedin', 'https://app.example.com/',
   now() - interval '20 minutes', now() - interval '10 minutes'),
  (extensions.digest('live', 'sha256'), tests.get_user_id('alice'), 'linkedin', 'https://app.example.com/',
   now(), now() + interval '10 minutes'),
  (extensions.digest('mallory', 'sha256'), tests.get_user_id('mallory'), 'facebook', 'https://app.example.com/',
   now(), now() + interval '10 minutes');
select is(private.purge_expired_oauth_states(), 1, 'the purge deletes the one expired state');
select results_eq(
  $$select encode(state_hash, 'hex') from private.oauth_states order by 1$$,
  $$select encode(extensions.digest(s, 'sha256'), 'hex') from unnest(array['live', 'mallory']) as s order by 1$$,
  'live states survive the purge');

-- One state the purge cannot delete (here a trigger refuses mallory's) stops nothing: alice's
-- expired state goes in the same run, mallory's stays with the reason, and goes once it can.
insert into private.oauth_states (state_hash, user_id, platform, redirect_to, created_at, expires_at)
values
  (extensions.digest('alice-old', 'sha256'), tests.get_user_id('alice'), 'twitter', 'https://app.example.com/',
   now() - interval '20 minutes', now() - interval '10 minutes'),
  (extensions.digest('mallory-old', 'sha256'), tests.get_user_id('mallory'), 'twitter', 'https://app.example.com/',
   now() - interval '20 minutes', now() - interval '10 minutes');
create function tests.refuse_mallorys_state_deletion()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if old.user_id = tests.get_user_id('mallory') then
    raise exception 'this state is held for an investigation';
  end if;
  return old;
end;
$$;
create trigger refuse_deletion
before delete on private.oauth_states
for each row execute function tests.refuse_mallorys_state_deletion();
select is(private.purge_expired_oauth_states(), 1,
  'the purge deletes the state it can, though another owner''s cannot be deleted');
select results_eq(
  $$select encode(state_hash, 'hex'), purge_error from private.oauth_states where expires_at < now()$$,
  $$values (encode(extensions.digest('mallory-old', 'sha256'), 'hex'),
            'this state is held for an investigation (P0001)'::text)$$,
  'only the state that could not be deleted is left, with the reason');
drop trigger refuse_deletion on private.oauth_states;
select is(private.purge_expired_oauth_states(), 1, 'the next run deletes it');

delete from auth.users where id = tests.get_user_id('mallory');
select results_eq(
  $$select count(*)::int from private.oauth_states$$, array[1],
  'a deleted user''s states go with them');
do $$ begin perform tests.create_user('mallory'); end; $$;

-- social_connections: the state apps show -------------------------------------------------

select has_column('public', 'social_connections', c, format('social_connections.%s exists', c))
from unnest(array['scopes', 'status', 'last_error', 'last_refreshed_at', 'refresh_failures',
                  'next_refresh_at', 'accounts']) with ordinality as t (c, n)
order by n;
select col_default_is('public', 'social_connections', 'status', 'active', 'a new connection is active');
select col_default_is('public', 'social_connections', 'scopes', '{}'::text[], 'scopes default to none');
select has_index('public', 'social_connections', 'social_connections_expires_at_idx', array['expires_at'],
  'the refresh job finds due connections by index');

select ok(has_column_privilege('authenticated', 'public.social_connections', c, 'SELECT')
          and not has_column_privilege('authenticated', 'public.social_connections', c, 'UPDATE')
          and not has_column_privilege('authenticated', 'public.social_connections', c, 'INSERT'),
  format('authenticated may read social_connections.%s and not write it', c))
from unnest(array['scopes', 'status', 'last_error', 'last_refreshed_at', 'refresh_failures',
                  'next_refresh_at', 'accounts']) with ordinality as t (c, n)
order by n;
select ok(not has_any_column_privilege('anon', 'public.social_connections', 'SELECT, INSERT, UPDATE'),
  'anon has nothing on social_connections');

select throws_ok(
  format('select tests.insert_row(%L, %L, %L)', 'social_connections', 'alice', '{"status": "broken"}'),
  '23514', null, 'status is active, needs_reauth or disconnected');
select throws_ok(
  format('select tests.insert_row(%L, %L, %L)', 'social_connections', 'alice', '{"accounts": {}}'),
  '23514', null, 'accounts is an array');
select throws_ok(
  format('select tests.insert_row(%L, %L, %L)', 'social_connections', 'alice', '{"refresh_failures": -1}'),
  '23514', null, 'refresh_failures is not negative');

create table tests.connection as
select tests.insert_row('social_connections', 'alice', jsonb_build_object(
  'platform', 'linkedin', 'refresh_token', 'refresh-ciphertext',
  'scopes', array['openid', 'profile', 'w_member_social'],
  'accounts', '[{"id": "page-1", "name": "Demo"}]'::jsonb)) as id;
grant select on tests.connection to authenticated;

-- ==== acting as alice (signed in) ====
select tests.authenticate_as('alice');
select results_eq(
  $$select status, scopes, last_error, refresh_failures, accounts from public.social_connections$$,
  $$values ('active'::text, array['openid', 'profile', 'w_member_social'], null::text, 0, '[{"id": "page-1", "name": "Demo"}]'::jsonb)$$,
  'alice reads her connection''s state, scopes and accounts');
select throws_ok($$select access_token from public.social_connections$$, '42501', null,
  'alice still cannot read her access token');
select throws_ok($$select refresh_token from public.social_connections$$, '42501', null,
  'alice still cannot read her refresh token');
select throws_ok($$select * from public.social_connections$$, '42501', null,
  'select * still fails on the token columns');

select throws_ok(format('update public.social_connections set %s', assignment), '42501', null,
  format('alice cannot write %s', split_part(assignment, ' ', 1)))
from unnest(array[
  'status = ''active''', 'scopes = ''{tweet.write}''', 'last_error = null',
  'last_refreshed_at = now()', 'refresh_failures = 0', 'next_refresh_at = null',
  'accounts = ''[]'''
]) with ordinality as t (assignment, n)
order by n;

-- is_active, which alice may switch, moves status between active and disconnected.
select * from tests.affects(
  $$update public.social_connections set is_active = false returning status$$, 1,
  'alice switches her connection off');
select is((select status from public.social_connections), 'disconnected',
  'switched off reads as disconnected');
select * from tests.affects(
  $$update public.social_connections set is_active = true returning status$$, 1,
  'alice switches it on again');
select is((select status from public.social_connections), 'active', 'switched on reads as active');

-- ==== acting as mallory (another tenant) ====
select tests.authenticate_as('mallory');
select * from tests.affects(
  $$select status, last_error from public.social_connections$$, 0,
  'mallory sees nothing of alice''s connection state');

-- ==== postgres, as the refresh job: the provider refused the grant ====
select tests.clear_authentication();
update public.social_connections
set status = 'needs_reauth', is_active = false, last_error = 'linkedin: invalid_grant'
where id = (select id from tests.connection);

-- ==== acting as alice (signed in) ====
select tests.authenticate_as('alice');
select results_eq(
  $$select status, is_active, last_error from public.social_connections$$,
  $$values ('needs_reauth'::text, false, 'linkedin: invalid_grant'::text)$$,
  'alice reads why her connection needs re-authorisation');
select throws_ok($$update public.social_connections set is_active = true$$, '23514',
  'the linkedin connection needs re-authorisation and cannot be switched on',
  'a connection needing re-authorisation cannot be switched back on');

-- ==== back to postgres ====
select tests.clear_authentication();

-- Functions: search_path pinned, execute closed ---------------------------------------------

select is(
  (select proconfig from pg_proc where oid = f::regprocedure),
  array['search_path=""'],
  format('%s sets search_path = ''''', f))
from unnest(array['private.purge_expired_oauth_states()', 'private.sync_social_connection_status()'])
  with ordinality as t (f, n)
order by n;

-- No OAuth function runs with its owner's rights: there is no security definer function here
-- whose ownership checks could be missed (issue 8 §9). The social targets' triggers are the
-- exception: they check the row's owner first (92_social_targets tests it).
select is(
  (select array_agg(p.oid::regprocedure::text order by 1)
   from pg_proc as p
   where p.prosecdef
     and (p.proname ~ 'oauth|social' or p.prosrc ~ 'oauth_states|social_connections')
     and p.oid::regprocedure::text not in (
       'private.check_social_content()', 'private.check_social_post()', 'private.sync_social_post_status()')),
  null,
  'no security definer function reads OAuth states or social connections, but the social targets'' owner-first triggers');

select ok(not has_function_privilege(r, 'private.purge_expired_oauth_states()', 'EXECUTE'),
  format('%s may not run the purge', r))
from unnest(array['public', 'anon', 'authenticated', 'service_role']) with ordinality as t (r, n)
order by n;

-- Schedules ---------------------------------------------------------------------------------

select results_eq(
  $$select schedule, command from cron.job where jobname = 'beacon-refresh-social-tokens'$$,
  $$values ('*/15 * * * *'::text, 'select private.call_function(''/oauth/refresh'')'::text)$$,
  'every 15 minutes, cron asks the oauth function to refresh tokens');
select results_eq(
  $$select schedule, command from cron.job where jobname = 'beacon-purge-oauth-states'$$,
  $$values ('*/30 * * * *'::text, 'select private.purge_expired_oauth_states()'::text)$$,
  'every 30 minutes, cron purges expired OAuth states');

-- Scheduling again under the same name (a re-run migration) keeps one job.
do $do$
begin
  perform cron.schedule('beacon-refresh-social-tokens', '*/15 * * * *',
    $$select private.call_function('/oauth/refresh')$$);
end;
$do$;
select is(
  (select count(*)::int from cron.job where jobname = 'beacon-refresh-social-tokens'), 1,
  'the refresh job exists once, whatever the re-runs');

select * from finish();
rollback;
