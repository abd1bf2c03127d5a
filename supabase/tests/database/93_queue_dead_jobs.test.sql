-- Dead jobs go back to their kind (migration job_dead_handlers): a job whose last lease ran
-- out with no report is dead-lettered by the next claim, which hands its id to the kind's
-- dead_handler, so its subject never stays in flight: a social target fails with a readable
-- reason and its content settles; a chunk's queued deliveries fail and the campaign finishes;
-- a workflow execution parked on a webhook wakes and fails.
begin;
\ir _helpers.psql

select plan(22);

do $$
begin
  perform tests.create_user('alice');
  perform tests.verify_sending_domain('alice', 'alice.example');
end;
$$;

-- Waiting jobs of others (on a developer's database) stay out of this file's claims.
update private.jobs set status = 'held' where status = 'ready';

-- The primitive ---------------------------------------------------------------------------------
create table tests.handed (ids bigint[]);
create function tests.record_dead(job_ids bigint[])
returns void
language sql
as $$
  insert into tests.handed values (job_ids)
$$;
select private.register_job_kind('test_dead', 2, 60);
update private.job_kinds set dead_handler = 'tests.record_dead' where kind = 'test_dead';
select private.register_job_kind('test_plain', 1, 60);
select throws_ok($$update private.job_kinds set dead_handler = 'record_dead; drop table x' where kind = 'test_plain'$$,
  '23514', null, 'a dead_handler is a schema-qualified function name, nothing else');

insert into private.jobs (kind, key, user_id)
values ('test_dead', 'one', tests.get_user_id('alice')), ('test_dead', 'two', tests.get_user_id('alice')),
       ('test_plain', 'three', tests.get_user_id('alice'));
select is((select count(*)::integer from private.claim_jobs('test_dead', 10, 'w1')), 2, 'fixture: both jobs leased');
update private.jobs set lease_until = now() - interval '1 second' where kind = 'test_dead';
select is((select count(*)::integer from private.claim_jobs('test_dead', 10, 'w2')), 2,
  'with an attempt left, a job whose lease ran out is leased again');
update private.jobs set lease_until = now() - interval '1 second' where kind = 'test_dead';
select is((select count(*)::integer from private.claim_jobs('test_dead', 10, 'w3')), 0,
  'with none left, the next claim leases nothing');
select results_eq(
  $$select status, last_error from private.jobs where kind = 'test_dead' order by key$$,
  $$values ('dead', 'gave up after 2 attempts: no result came back before the lease ran out'),
           ('dead', 'gave up after 2 attempts: no result came back before the lease ran out')$$,
  'it dead-letters them, saying why'
);
select is(
  (select ids from tests.handed),
  (select array_agg(id order by id) from private.jobs where kind = 'test_dead'),
  'and hands their ids to the kind''s dead_handler, in one call'
);
select is((select count(*)::integer from private.claim_jobs('test_plain', 10)), 1, 'fixture: a kind without a handler');
update private.jobs set lease_until = now() - interval '1 second' where kind = 'test_plain';
select lives_ok($$select from private.claim_jobs('test_plain', 10)$$, 'dead-letters with nobody to tell');
select is((select status from private.jobs where kind = 'test_plain'), 'dead', '... all the same');

-- Social publishing ------------------------------------------------------------------------------
-- alice's post to X and LinkedIn: X is published, LinkedIn's worker dies on its fifth attempt.
insert into public.social_connections (user_id, platform, platform_user_id, access_token, scopes)
values (tests.get_user_id('alice'), 'twitter', 'x-alice', 'v1:ciphertext', '{tweet.write}'),
       (tests.get_user_id('alice'), 'linkedin', 'li-alice', 'v1:ciphertext', '{w_member_social}');
create table tests.post as
select tests.insert_row('content', 'alice', jsonb_build_object(
  'content_type', 'social_post', 'content', 'Spring is here', 'title', 'Spring',
  'scheduled_at', now() + interval '1 hour')) as id;
insert into public.social_posts (user_id, content_id, social_connection_id)
select sc.user_id, (select id from tests.post), sc.id
from public.social_connections as sc
where sc.user_id = tests.get_user_id('alice');
update public.content set status = 'scheduled' where id = (select id from tests.post);
update public.content set scheduled_at = now() - interval '1 minute' where id = (select id from tests.post);
select is(private.publish_due_content(), 1, 'fixture: the post is due and publishing');

create table tests.claimed as select * from private.claim_social_posts(10);
select is(private.complete_social_posts((
  select jsonb_agg(jsonb_build_object('job_id', job_id, 'outcome', 'published', 'platform_post_id', '1', 'url', 'https://x.com/i/1'))
  from tests.claimed where platform = 'twitter')), 1, 'fixture: X is published');
update private.jobs set attempts = 5, lease_until = now() - interval '1 second', leased_by = null
where id = (select job_id from tests.claimed where platform = 'linkedin');
select is((select count(*)::integer from private.claim_social_posts(10)), 0,
  'a claim does not hand out a target with no attempt left');
select is(
  (select row(t.status, t.error, t.attempts)::text from public.social_posts as t
   join public.social_connections as sc on sc.id = t.social_connection_id where sc.platform = 'linkedin'),
  '(failed,"gave up after 5 attempts: no result came back before the lease ran out",5)',
  'the target fails with a reason the app can show'
);
select is(
  (select row(status, publish_error)::text from public.content where id = (select id from tests.post)),
  '(failed,"1 of 2 targets failed; each one''s reason is in social_posts.error")',
  'and its content settles: failed, with the count'
);

-- Email ----------------------------------------------------------------------------------------
create table tests.campaign as
select tests.insert_row('email_campaigns', 'alice', jsonb_build_object(
  'subject', 'Hello', 'from_email', 'news@alice.example', 'recipient_list', '["a@example.test", "b@example.test"]'::jsonb,
  'status', 'scheduled', 'send_at', now())) as id;
update public.email_campaigns set status = 'sending' where id = (select id from tests.campaign);
select is((select count(*)::integer from private.claim_email_batch('mailer', 10)), 2, 'fixture: the chunk is claimed');
update private.jobs set attempts = 5, lease_until = now() - interval '1 second'
where kind = 'email' and subject_id = (select id from tests.campaign);
update public.email_deliveries set last_error = '503 service unavailable'
where email_campaign_id = (select id from tests.campaign);
select is((select count(*)::integer from private.claim_email_batch('mailer', 10)), 0,
  'a chunk with no attempt left is not handed out');
select results_eq(
  $$select status, last_error, count(*)::integer from public.email_deliveries
    where email_campaign_id = (select id from tests.campaign) group by 1, 2$$,
  $$values ('failed', 'gave up after 5 attempts: 503 service unavailable', 2)$$,
  'its deliveries fail, keeping their last error, so the campaign can finish'
);

-- Webhooks ---------------------------------------------------------------------------------------
-- alice's workflow posts to a webhook; the dispatcher's worker dies on the fifth attempt.
insert into public.leads (user_id, email) values (tests.get_user_id('alice'), 'ada@acme.com');
create table tests.execution (id uuid);
with started as (
  insert into public.workflow_run_requests (user_id, workflow_id, lead_id)
  select l.user_id, tests.insert_row('workflows', 'alice', '{"name": "hook", "trigger_config": {"type": "manual"},
    "action_config": {"steps": [{"type": "webhook", "url": "https://hooks.example.com/in"}]}}'), l.id
  from public.leads as l
  where l.email = 'ada@acme.com'
  returning execution_id
)
insert into tests.execution select execution_id from started;
do $$ begin perform private.run_workflow_batch(1000); end; $$;
select is((select count(*)::integer from private.claim_webhooks('hooker')), 1, 'fixture: the execution''s webhook is claimed');
update private.jobs set attempts = 5, lease_until = now() - interval '1 second'
where kind = 'webhook' and payload ->> 'execution_id' = (select id::text from tests.execution);
select is((select count(*)::integer from private.claim_jobs('webhook', 10)), 0,
  'a webhook with no attempt left is not handed out, whoever claims');
select ok(
  (select r.run_after <= now() from private.workflow_runs as r where r.execution_id = (select id from tests.execution)),
  'the execution parked on it is due again');
do $$ begin perform private.run_workflow_batch(1000); end; $$;
select is(
  (select e.status || ': ' || e.error_message from public.workflow_executions as e where e.id = (select id from tests.execution)),
  'failed: steps[0] (webhook): gave up after 5 attempts: no result came back before the lease ran out',
  'and fails, with the webhook''s reason'
);

select is_empty(
  $$select kind from private.job_kinds where kind in ('webhook', 'email', 'social_publish') and dead_handler is null$$,
  'every kind on the queue has a dead_handler');

select * from finish();
rollback;
