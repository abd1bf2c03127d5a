-- The claim returns whom to send to; the campaign's content is read apart, once per campaign
-- (migration email_claim_without_content): private.email_campaign_content gives a campaign's
-- subject, body and sender by id, to the dispatcher's role only.
begin;
\ir _helpers.psql

select plan(8);

do $$ begin perform tests.create_user('alice'); end; $$;
do $$ begin perform tests.create_user('bob'); end; $$;
do $$ begin perform tests.verify_sending_domain('alice', 'alice.example'); end; $$;
-- Other campaigns' queue rows (on a developer's database) wait while this file runs.
update private.email_queue set paused = true where not paused;

create table tests.campaign (id uuid);
do $$
declare
  made uuid;
begin
  made := tests.insert_row('email_campaigns', 'alice', jsonb_build_object(
    'subject', 'Hello {{first_name|there}}', 'content', '<p>The news</p>',
    'from_email', 'news@alice.example', 'from_name', 'Alice', 'reply_to', 'replies@alice.example',
    'recipient_list', '["a@example.test", "b@example.test"]'::jsonb,
    'status', 'scheduled', 'send_at', now()));
  update public.email_campaigns set status = 'sending' where id = made;
  insert into tests.campaign values (made);
end;
$$;

select is(
  (select array_agg(a.name order by a.n)
   from pg_proc as p
   cross join lateral unnest(p.proargnames, p.proargmodes) with ordinality as a (name, mode, n)
   where p.oid = 'private.claim_email_batch(text, integer, interval)'::regprocedure and a.mode = 't'),
  array['delivery_id', 'chunk_key', 'idempotency_key', 'attempt', 'user_id', 'email_campaign_id',
        'email', 'first_name', 'last_name', 'merge_data'],
  'claim_email_batch returns the members, not the campaign''s content beside each'
);

create table tests.claims as
select c.* from private.claim_email_batch('w', 10) as c
where c.email_campaign_id = (select id from tests.campaign);
select is((select count(*)::integer from tests.claims), 2, 'fixture: the worker holds the campaign''s two members');

select results_eq(
  $$select id, subject, content, from_email, from_name, reply_to
    from private.email_campaign_content(array[(select id from tests.campaign), gen_random_uuid()])$$,
  $$select id, 'Hello {{first_name|there}}'::text, '<p>The news</p>'::text, 'news@alice.example'::text,
           'Alice'::text, 'replies@alice.example'::text
    from tests.campaign$$,
  'email_campaign_content gives each known campaign''s subject, body and sender (an unknown id: no row)'
);
select is(
  (select count(*)::integer from private.email_campaign_content('{}'::uuid[])),
  0,
  'no ids: no rows'
);

-- What makes reading it once per run right: a sending campaign's content cannot change.
select throws_ok(
  $$update public.email_campaigns set content = '<p>Other news</p>' where id = (select id from tests.campaign)$$,
  '23514',
  'email campaign content cannot change once the campaign is sending',
  'a sending campaign''s content is frozen'
);

-- Only the dispatcher's role (postgres) may read campaigns through it, past RLS.
select ok(
  not has_function_privilege('authenticated', 'private.email_campaign_content(uuid[])', 'execute')
  and not has_function_privilege('anon', 'private.email_campaign_content(uuid[])', 'execute')
  and not has_function_privilege('service_role', 'private.email_campaign_content(uuid[])', 'execute'),
  'email_campaign_content: no execute for anon, authenticated or service_role'
);
select ok(
  not has_function_privilege('authenticated', 'private.claim_email_batch(text, integer, interval)', 'execute')
  and not has_function_privilege('anon', 'private.claim_email_batch(text, integer, interval)', 'execute')
  and not has_function_privilege('service_role', 'private.claim_email_batch(text, integer, interval)', 'execute'),
  'claim_email_batch (created anew): still no execute for anon, authenticated or service_role'
);
set local role authenticated;
select throws_ok(
  $$select * from private.email_campaign_content(array[gen_random_uuid()])$$,
  '42501',
  'permission denied for schema private',
  'a signed-in client cannot call it'
);
reset role;

select * from finish();
rollback;
