-- The webhook queue's SQL API for the dispatcher, in the email queue's style:
-- claim_webhooks(worker, max, lease) leases due webhooks (for update skip locked) and
-- returns what to send; complete_webhooks(worker, results) records sent / retry / failed for
-- the rows the worker holds: retries back off (30 s doubling, at most an hour, with
-- jitter), the fifth failed attempt dead-letters; a lease that runs out makes a row
-- claimable again; a worker whose lease was taken over cannot report. No client role can
-- reach any of it.
begin;
\ir _helpers.psql

select plan(28);

do $$
begin
  perform tests.create_user('alice');
  perform tests.insert_row('workflows', 'alice', '{"name": "hook", "trigger_config": {"type": "lead_created"},
    "action_config": {"steps": [{"type": "webhook", "url": "https://hooks.example.com/in", "secret_name": "HOOK_KEY"}]}}');
end;
$$;

insert into public.leads (user_id, email) select tests.get_user_id('alice'), 'l' || n || '@acme.com' from generate_series(1, 3) as n;
select tests.expand_lead_changes();
do $$ begin perform private.run_workflow_batch(1000); end; $$;
select is((select count(*)::integer from private.webhook_queue where status = 'pending'), 3, 'three webhooks are queued');

-- Claims -------------------------------------------------------------------------------------
create table tests.first as select * from private.claim_webhooks('worker-a', 2, '2 minutes');
select is((select count(*)::integer from tests.first), 2, 'a claim takes at most max_webhooks');
select is(
  (select array_agg(distinct q.leased_by || ' ' || (q.lease_until = now() + interval '2 minutes') || ' ' || q.attempts)
   from private.webhook_queue as q join tests.first as f on f.webhook_id = q.id),
  array['worker-a true 1'], 'the claimed rows are leased to the worker, attempt 1');
select is((select count(*)::integer from private.claim_webhooks('worker-b')), 1,
  'another worker gets only the row not leased');
select is((select count(*)::integer from private.claim_webhooks('worker-c')), 0, 'then nothing is due');
select is(
  (select array_agg(distinct f.idempotency_key = f.webhook_id::text) from tests.first as f), array[true],
  'the idempotency key is stable: the webhook''s id');
select is((select distinct secret_name from tests.first), 'HOOK_KEY', 'the secret to sign with is named');
select ok((select bool_and(f.body::jsonb ->> 'type' = 'workflow.webhook') from tests.first as f),
  'the body is the JSON text to send');

-- Reports --------------------------------------------------------------------------------
create table tests.ids as select array_agg(webhook_id order by webhook_id) as ids from tests.first;
select is(
  private.complete_webhooks('worker-b', jsonb_build_array(jsonb_build_object('webhook_id', (select ids[1] from tests.ids), 'outcome', 'sent'))),
  '{"sent": 0, "ignored": 1, "retried": 0, "dead_lettered": 0}'::jsonb,
  'a worker cannot report on a row it does not hold');
select is(
  private.complete_webhooks('worker-a', jsonb_build_array(
    jsonb_build_object('webhook_id', (select ids[1] from tests.ids), 'outcome', 'sent', 'http_status', 200),
    jsonb_build_object('webhook_id', (select ids[2] from tests.ids), 'outcome', 'retry', 'http_status', 503,
                       'error', 'HTTP 503', 'retry_after_seconds', 120))),
  '{"sent": 1, "ignored": 0, "retried": 1, "dead_lettered": 0}'::jsonb,
  'the holder reports one sent and one to retry');
select is((select status || ' ' || http_status from private.webhook_queue where id = (select ids[1] from tests.ids)),
  'sent 200', 'sent: recorded, waiting for its execution to take the outcome');
select ok(
  (select run_after between now() + interval '120 seconds' and now() + interval '150 seconds'
      and lease_until is null and last_error = 'HTTP 503'
   from private.webhook_queue where id = (select ids[2] from tests.ids)),
  'retry: after max(retry_after_seconds, backoff) with jitter, the lease cleared, the error kept');
select is(
  private.complete_webhooks('worker-a', jsonb_build_array(jsonb_build_object('webhook_id', (select ids[1] from tests.ids), 'outcome', 'sent'))),
  '{"sent": 0, "ignored": 1, "retried": 0, "dead_lettered": 0}'::jsonb,
  'reporting the same webhook again changes nothing');

-- Five failed attempts dead-letter a webhook.
create function tests.fail_once(id uuid)
returns jsonb
language plpgsql
as $$
declare
  counts jsonb;
begin
  update private.webhook_queue as q set run_after = now() - interval '1 second' where q.id = fail_once.id;
  perform private.claim_webhooks('worker-a', 10);
  select private.complete_webhooks('worker-a', jsonb_build_array(jsonb_build_object('webhook_id', id, 'outcome', 'retry',
    'error', 'timeout'))) into counts;
  return counts;
end;
$$;
select is(tests.fail_once((select ids[2] from tests.ids)) ->> 'retried', '1', 'attempt 2 fails: retried');
select ok(
  (select run_after between now() + interval '60 seconds' and now() + interval '75 seconds'
   from private.webhook_queue where id = (select ids[2] from tests.ids)),
  'the backoff doubles: about a minute after the second attempt');
select is(tests.fail_once((select ids[2] from tests.ids)) ->> 'retried', '1', 'attempt 3 fails: retried');
select is(tests.fail_once((select ids[2] from tests.ids)) ->> 'retried', '1', 'attempt 4 fails: retried');
select is(tests.fail_once((select ids[2] from tests.ids)) ->> 'dead_lettered', '1', 'attempt 5 fails: dead-lettered');
select is(
  (select status || ' | ' || last_error from private.webhook_queue where id = (select ids[2] from tests.ids)),
  'dead | gave up after 5 attempts: timeout', 'a dead-lettered webhook says why');

-- A lease that runs out makes the row claimable again, by anyone.
update private.webhook_queue set lease_until = now() - interval '1 second'
where leased_by = 'worker-b';
select is((select count(*)::integer from private.claim_webhooks('worker-c')), 1, 'an expired lease is claimed again');
select is(
  private.complete_webhooks('worker-b', (select jsonb_agg(jsonb_build_object('webhook_id', id, 'outcome', 'sent'))
    from private.webhook_queue where leased_by = 'worker-c')),
  '{"sent": 0, "ignored": 1, "retried": 0, "dead_lettered": 0}'::jsonb,
  'the worker that lost the lease cannot report on it');

-- Bad input is refused with the path.
select throws_ok($$select private.complete_webhooks('worker-a', '{}')$$, '22023',
  'complete_webhooks: results must be a JSON array', 'results must be an array');
select throws_ok($$select private.complete_webhooks('worker-a', '[{"webhook_id": "x", "outcome": "sent"}]')$$, '22023',
  'complete_webhooks: results[0].webhook_id: "x" is not a webhook id', 'a bad webhook id is named');
select throws_ok(
  format($$select private.complete_webhooks('worker-a', '[{"webhook_id": "%s", "outcome": "maybe"}]')$$, gen_random_uuid()),
  '22023', 'complete_webhooks: results[0].outcome: "maybe" is not sent, retry or failed', 'a bad outcome is named');
select throws_ok(
  format($$select private.complete_webhooks('worker-a', '[{"webhook_id": "%s", "outcome": "sent", "http_status": 42}]')$$, gen_random_uuid()),
  '22023', 'complete_webhooks: results[0].http_status: expected an HTTP status code, not 42', 'a bad HTTP status is named');
select throws_ok($$select * from private.claim_webhooks('', 10)$$, '22023',
  'claim_webhooks: worker must name the worker, in 1 to 200 characters', 'a claim needs a worker name');

-- Nobody but the system.
select ok(
  not has_table_privilege(r, 'private.webhook_queue', 'SELECT, INSERT, UPDATE, DELETE'),
  format('%s has no privilege on private.webhook_queue', r))
from unnest(array['anon', 'authenticated']) as r;

select * from finish();
rollback;
