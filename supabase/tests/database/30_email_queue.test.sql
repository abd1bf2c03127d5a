-- The queue (migrations email_queue, email_claim, email_complete, email_campaign_controls,
-- email_tick): workers claim whole chunks under a lease and never the same rows; a lease
-- that runs out gives the same chunk, with the same key, to the next worker; results count
-- only from the lease holder; retries back off (growing, capped, with jitter) and the fifth
-- failure dead-letters; the owner pauses, resumes and cancels; the tick finishes a
-- campaign as sent or failed. (Two workers claiming at the same instant: supabase/tests/
-- email_claim_test.ts.)
begin;
\ir _helpers.psql

select plan(68);

do $$ begin perform tests.create_user('alice'); end; $$;
-- Alice's sender domain is verified: a campaign is scheduled only from one.
do $$ begin perform tests.verify_sending_domain('alice', 'alice.example'); end; $$;

-- Queue rows of other campaigns (on a developer's database) wait while this file runs, so
-- that every claim below sees only this file's rows; the rollback at the end undoes it.
update private.email_queue set paused = true where not paused;

-- A campaign of alice's to `n` addresses <prefix>001@example.test..., started (fanned out).
create function tests.sending_campaign(prefix text, n integer)
returns uuid
language plpgsql
as $$
declare
  made uuid;
begin
  made := tests.insert_row('email_campaigns', 'alice', jsonb_build_object(
    'subject', 'Hello {{first_name}}', 'from_email', 'news@alice.example', 'from_name', 'Alice',
    'reply_to', 'alice@alice.example',
    'recipient_list', (select jsonb_agg(format('%s%s@example.test', prefix, lpad(i::text, 3, '0'))) from generate_series(1, n) as i),
    'status', 'scheduled', 'send_at', now()));
  update public.email_campaigns set status = 'sending' where id = made;
  return made;
end;
$$;

create function tests.delivery(address text)
returns uuid
language sql
as $$
  select id from public.email_deliveries where user_id = tests.get_user_id('alice') and email = address
$$;

-- The tick, keeping queue rows of campaigns it starts that are not alice's out of the claims
-- below (on a developer's database, due campaigns of other users may be waiting).
create function tests.tick()
returns void
language sql
as $$
  select private.email_tick();
  update private.email_queue set paused = true where user_id <> tests.get_user_id('alice');
$$;

-- A claim's rows, kept by worker, with their campaign's content as the dispatcher reads it.
create table tests.claims (worker text, delivery_id uuid, chunk_key text, idempotency_key text, attempt integer,
  email_campaign_id uuid, email text, subject text, from_email text, from_name text, reply_to text);
create function tests.claim(worker text, max_chunks integer default 10)
returns integer
language sql
as $$
  with claimed as (
    insert into tests.claims
    select worker, c.delivery_id, c.chunk_key, c.idempotency_key, c.attempt, c.email_campaign_id, c.email,
           e.subject, e.from_email, e.from_name, e.reply_to
    from private.claim_email_batch(worker, max_chunks) as c
    left join private.email_campaign_content(array[c.email_campaign_id]) as e on true
    returning 1
  )
  select count(*)::integer from claimed
$$;

-- Results for every row `worker` claimed (last claim), all with the same outcome.
create function tests.results(worker text, outcome text, extra jsonb default '{}')
returns jsonb
language sql
as $$
  select coalesce(jsonb_agg(jsonb_build_object('delivery_id', c.delivery_id, 'outcome', outcome) || extra), '[]')
  from tests.claims as c
  where c.worker = results.worker
$$;

create table tests.campaigns as
select tests.sending_campaign('a', 250) as a;

-- Claiming ------------------------------------------------------------------------------------
select is(tests.claim('w1', 1), 100, 'a worker asking for one chunk gets one chunk: 100 deliveries');
select is(tests.claim('w2', 1), 100, 'a second worker gets the next 100');
select is(tests.claim('w3', 5), 50, 'a third, asking for five chunks, gets the one left: 50');
select is(tests.claim('w4', 10), 0, 'a fourth gets nothing: every row is leased');
select is(
  (select count(distinct delivery_id)::integer from tests.claims), 250,
  'the workers got disjoint rows: 250 deliveries, none twice'
);
select results_eq(
  $$select worker, count(distinct chunk_key)::integer, min(attempt), max(attempt) from tests.claims group by worker order by worker$$,
  $$values ('w1', 1, 1, 1), ('w2', 1, 1, 1), ('w3', 1, 1, 1)$$,
  'each worker got one chunk key, for a first attempt'
);
select results_eq(
  $$select count(*)::integer, bool_and(subject = 'Hello {{first_name}}' and from_email = 'news@alice.example'
                                         and from_name = 'Alice' and reply_to = 'alice@alice.example')
    from tests.claims$$,
  $$values (250, true)$$,
  'each row''s campaign gives its subject and sender (email_campaign_content)'
);
select results_eq(
  $$select c.idempotency_key = d.idempotency_key, count(*)::integer
    from tests.claims as c join public.email_deliveries as d on d.id = c.delivery_id group by 1$$,
  $$values (true, 250)$$,
  'each row carries its delivery''s idempotency key'
);
select is(
  (select chunk_key from tests.claims where worker = 'w1' limit 1),
  (select encode(sha256(convert_to(string_agg(idempotency_key, ',' order by idempotency_key), 'UTF8')), 'hex')
   from tests.claims where worker = 'w1'),
  'the chunk key is the SHA-256 of its members'' idempotency keys, sorted'
);
select results_eq(
  $$select leased_by, count(*)::integer, bool_and(lease_until = now() + interval '2 minutes'), max(attempts)
    from private.email_queue where email_campaign_id = (select a from tests.campaigns)
    group by leased_by order by leased_by$$,
  $$values ('w1', 100, true, 1), ('w2', 100, true, 1), ('w3', 50, true, 1)$$,
  'the queue rows are leased to their worker for two minutes, their attempts counted'
);

select throws_ok($$select * from private.claim_email_batch('')$$, '22023',
  'claim_email_batch: worker must name the worker, in 1 to 200 characters', 'a claim needs a worker name');
select throws_ok($$select * from private.claim_email_batch('w', 0)$$, '22023',
  'claim_email_batch: max_chunks must be between 1 and 100, not 0', 'a claim takes 1 to 100 chunks');
select throws_ok($$select * from private.claim_email_batch('w', 1, interval '0 seconds')$$, '22023',
  'claim_email_batch: lease must be between 1 second and 1 hour, not 00:00:00', 'a lease is at least a second');

-- A lease that runs out --------------------------------------------------------------------
-- w1 crashed: its lease runs out (simulated), and the next claim takes exactly its chunk.
update private.email_queue set lease_until = now() - interval '1 second' where leased_by = 'w1';
select is(tests.claim('w5'), 100, 'once the lease has run out the chunk can be claimed again');
select is(
  (select array_agg(delivery_id order by delivery_id) from tests.claims where worker = 'w5'),
  (select array_agg(delivery_id order by delivery_id) from tests.claims where worker = 'w1'),
  'by the next worker, whole: the same members'
);
select is(
  (select distinct chunk_key from tests.claims where worker = 'w5'),
  (select distinct chunk_key from tests.claims where worker = 'w1'),
  'with the same chunk key, so the provider drops a repeat of a send that went through'
);
select is((select max(attempt) from tests.claims where worker = 'w5'), 2, 'as a second attempt');

-- Completing ----------------------------------------------------------------------------------
-- w1 comes back from the dead and reports: its rows are w5's now, so nothing it says counts.
select is(
  private.complete_email_batch('w1', tests.results('w1', 'sent', '{"provider_message_id": "stale"}')),
  '{"sent": 0, "retried": 0, "failed": 0, "dead_lettered": 0, "cancelled": 0, "ignored": 100}'::jsonb,
  'a worker whose lease was taken over cannot complete: all its results are ignored'
);
select results_eq(
  $$select d.status, q.leased_by, count(*)::integer from public.email_deliveries as d
    join private.email_queue as q on q.delivery_id = d.id
    where d.id in (select delivery_id from tests.claims where worker = 'w1') group by 1, 2$$,
  $$values ('queued', 'w5', 100)$$,
  'its rows are untouched: queued, leased to the new worker'
);
select is(
  private.complete_email_batch('w5', (select jsonb_agg(jsonb_build_object(
    'delivery_id', delivery_id, 'outcome', 'sent', 'provider_message_id', 'msg-' || email)) from tests.claims where worker = 'w5')),
  '{"sent": 100, "retried": 0, "failed": 0, "dead_lettered": 0, "cancelled": 0, "ignored": 0}'::jsonb,
  'the lease holder completes them'
);
select results_eq(
  $$select status, count(*)::integer, bool_and(sent_at = now()), bool_and(provider_message_id = 'msg-' || email), max(attempts)
    from public.email_deliveries where id in (select delivery_id from tests.claims where worker = 'w5') group by status$$,
  $$values ('sent', 100, true, true, 2)$$,
  'sent deliveries are sent, with the time, the provider''s message id and the attempts it took'
);
select is(
  (select count(*)::integer from private.email_queue where delivery_id in (select delivery_id from tests.claims where worker = 'w5')),
  0, 'and they leave the queue'
);
select is(
  private.find_delivery_by_provider_id('msg-a001@example.test'), tests.delivery('a001@example.test'),
  'find_delivery_by_provider_id finds a delivery by the provider''s message id'
);
select is(private.find_delivery_by_provider_id('no-such-message'), null, '... and is null for an unknown one');

-- w2: 97 sent, one failed for good, two to retry (one with the provider's retry-after).
select is(
  private.complete_email_batch('w2', (
    select jsonb_agg(case
      when email = 'a101@example.test' then jsonb_build_object('delivery_id', delivery_id, 'outcome', 'failed',
        'error', '422 validation_error: invalid recipient')
      when email = 'a102@example.test' then jsonb_build_object('delivery_id', delivery_id, 'outcome', 'retry',
        'error', '503 service unavailable')
      when email = 'a103@example.test' then jsonb_build_object('delivery_id', delivery_id, 'outcome', 'retry',
        'error', '429 rate limited', 'retry_after_seconds', 600)
      else jsonb_build_object('delivery_id', delivery_id, 'outcome', 'sent', 'provider_message_id', 'msg-' || email)
    end)
    from tests.claims where worker = 'w2')),
  '{"sent": 97, "retried": 2, "failed": 1, "dead_lettered": 0, "cancelled": 0, "ignored": 0}'::jsonb,
  'a mixed report is counted by outcome'
);
select is(
  (select row(d.status, d.last_error, d.attempts, q.delivery_id is null)::text
   from public.email_deliveries as d left join private.email_queue as q on q.delivery_id = d.id
   where d.email = 'a101@example.test'),
  '(failed,"422 validation_error: invalid recipient",1,t)',
  'a failed delivery is failed with the provider''s message, out of the queue'
);
select is(
  (select row(d.status, d.last_error, d.attempts, q.lease_until, q.leased_by)::text
   from public.email_deliveries as d join private.email_queue as q on q.delivery_id = d.id
   where d.email = 'a102@example.test'),
  '(queued,"503 service unavailable",1,,)',
  'a delivery to retry stays queued, unleased, with its error kept'
);
select ok(
  (select q.run_after - now() >= interval '30 seconds' and q.run_after - now() < interval '37.5 seconds'
   from private.email_queue as q where q.delivery_id = tests.delivery('a102@example.test')),
  'after a first failure it waits 30 seconds, plus up to 25% jitter'
);
select ok(
  (select q.run_after - now() >= interval '600 seconds' and q.run_after - now() < interval '750 seconds'
   from private.email_queue as q where q.delivery_id = tests.delivery('a103@example.test')),
  'the provider''s retry-after wins over a shorter backoff'
);
select is(tests.claim('w6'), 0, 'rows waiting for their retry are not claimed early');

select throws_ok($$select private.complete_email_batch('w', '{}')$$, '22023',
  'complete_email_batch: results must be a JSON array', 'results must be an array');
select throws_ok(
  $$select private.complete_email_batch('w', '[{"delivery_id": "0b9ae1f2-7d1a-4c53-9a43-2a6a3e0d3c11", "outcome": "sent"}, {"delivery_id": "0b9ae1f2-7d1a-4c53-9a43-2a6a3e0d3c11", "outcome": "ok"}]')$$,
  '22023', 'complete_email_batch: results[1].outcome: "ok" is not sent, retry or failed',
  'a bad outcome is named by its index');
select throws_ok(
  $$select private.complete_email_batch('w', '[{"delivery_id": 7, "outcome": "sent"}]')$$,
  '22023', 'complete_email_batch: results[0].delivery_id: 7 is not a delivery id', 'a bad id is named');
select throws_ok(
  $$select private.complete_email_batch('w', '[{"delivery_id": "0b9ae1f2-7d1a-4c53-9a43-2a6a3e0d3c11", "outcome": "retry", "retry_after_seconds": -1}]')$$,
  '22023', 'complete_email_batch: results[0].retry_after_seconds: expected a whole number from 0 to 86400, not -1',
  'a negative retry-after is refused');
select throws_ok(
  $$select private.complete_email_batch('w', '[{"delivery_id": "0b9ae1f2-7d1a-4c53-9a43-2a6a3e0d3c11", "outcome": "sent", "provider_message_id": 12}]')$$,
  '22023', 'complete_email_batch: results[0].provider_message_id: expected a string, not 12',
  'the provider''s message id is a string');

-- Backoff ------------------------------------------------------------------------------------
select is(
  array(select private.retry_backoff(n) from generate_series(1, 9) as n),
  array['30 seconds', '1 minute', '2 minutes', '4 minutes', '8 minutes', '16 minutes', '32 minutes',
        '1 hour', '1 hour']::interval[],
  'backoff doubles from 30 seconds per attempt and is capped at an hour'
);
select is(private.retry_backoff(1000), interval '1 hour', 'a huge attempt count stays at the cap');

-- a102 fails again and again; each retry waits twice as long, until the fifth failure.
create table tests.waits (attempt integer, wait interval, result jsonb);
do $$
declare
  counts jsonb;
  i integer;
begin
  for i in 2..5 loop
    update private.email_queue set run_after = now() - interval '1 second'
    where delivery_id = tests.delivery('a102@example.test');
    perform tests.claim('retrier-' || i);
    counts := private.complete_email_batch('retrier-' || i, tests.results('retrier-' || i, 'retry',
      jsonb_build_object('error', format('503 service unavailable (attempt %s)', i))));
    insert into tests.waits
    select i, (select run_after - now() from private.email_queue where delivery_id = tests.delivery('a102@example.test')), counts;
  end loop;
end;
$$;
select results_eq(
  $$select attempt, wait >= private.retry_backoff(attempt) and wait < private.retry_backoff(attempt) * 1.25
    from tests.waits where attempt < 5 order by attempt$$,
  $$values (2, true), (3, true), (4, true)$$,
  'retries wait 1, 2 and 4 minutes (plus jitter) after the second, third and fourth failure'
);
select is(
  (select array_agg(c.attempt order by c.attempt) from tests.claims as c where c.worker like 'retrier-%'),
  array[2, 3, 4, 5],
  'each claim counted its attempt'
);
select is(
  (select result from tests.waits where attempt = 5),
  '{"sent": 0, "retried": 0, "failed": 0, "dead_lettered": 1, "cancelled": 0, "ignored": 0}'::jsonb,
  'the fifth failure dead-letters the delivery'
);
select is(
  (select row(d.status, d.last_error, d.attempts)::text from public.email_deliveries as d where d.email = 'a102@example.test'),
  '(failed,"gave up after 5 attempts: 503 service unavailable (attempt 5)",5)',
  'a dead-lettered delivery is failed, keeping the last error'
);
select is(
  (select count(*)::integer from private.email_queue where delivery_id = tests.delivery('a102@example.test')),
  0, 'and leaves the queue'
);

-- A delivery whose fifth lease ran out without any report is dead-lettered by the next claim.
update private.email_queue set attempts = 5, lease_until = now() - interval '1 second', leased_by = 'crashed'
where delivery_id = tests.delivery('a103@example.test');
update public.email_deliveries set last_error = '503 service unavailable' where email = 'a103@example.test';
select is(tests.claim('w7'), 0, 'a claim does not hand out a delivery that has had five attempts');
select is(
  (select row(status, last_error)::text from public.email_deliveries where email = 'a103@example.test'),
  '(failed,"gave up after 5 attempts: 503 service unavailable")',
  'it dead-letters it instead, keeping the last error'
);

-- Retrying together keeps a chunk together ------------------------------------------------------
-- w3's whole chunk fails with a 500: it retries as one chunk, with the same key.
select is(
  private.complete_email_batch('w3', tests.results('w3', 'retry', '{"error": "500 internal server error"}')),
  '{"sent": 0, "retried": 50, "failed": 0, "dead_lettered": 0, "cancelled": 0, "ignored": 0}'::jsonb,
  'a whole chunk goes back to the queue'
);
select is(
  (select count(distinct run_after)::integer from private.email_queue where delivery_id in (select delivery_id from tests.claims where worker = 'w3')),
  1, 'its rows share one retry time (the jitter is drawn per chunk)'
);
update private.email_queue set run_after = now() - interval '1 second'
where delivery_id in (select delivery_id from tests.claims where worker = 'w3');
select is(tests.claim('w8'), 50, 'the retry claims the whole chunk');
select is(
  (select distinct chunk_key from tests.claims where worker = 'w8'),
  (select distinct chunk_key from tests.claims where worker = 'w3'),
  'with the same key as the attempt before'
);
select is(
  private.complete_email_batch('w8', tests.results('w8', 'sent') || tests.results('w8', 'sent')),
  '{"sent": 50, "retried": 0, "failed": 0, "dead_lettered": 0, "cancelled": 0, "ignored": 0}'::jsonb,
  'a result reported twice counts once'
);

-- Completion ----------------------------------------------------------------------------------
select is((select status from public.email_campaigns where id = (select a from tests.campaigns)), 'sending',
  'a campaign stays sending until the tick finds its queue empty');
do $$ begin perform tests.tick(); end; $$;
select is((select status from public.email_campaigns where id = (select a from tests.campaigns)), 'sent',
  'with every delivery final, the tick marks it sent (some failed, most were sent)');

-- A campaign whose every delivery fails is failed.
create table tests.doomed as select tests.sending_campaign('f', 3) as id;
select is(tests.claim('w9'), 3, 'fixture: the doomed campaign''s chunk is claimed');
select is(
  private.complete_email_batch('w9', tests.results('w9', 'failed', '{"error": "422 domain does not exist"}')) ->> 'failed',
  '3', 'fixture: all three fail');
do $$ begin perform tests.tick(); end; $$;
select is(
  (select row(status, metrics ->> 'failed', metrics ->> 'sent')::text from public.email_campaigns where id = (select id from tests.doomed)),
  '(failed,3,0)', 'a campaign none of whose deliveries was sent is failed');

-- Pause, resume, cancel ----------------------------------------------------------------------------
create table tests.controlled as select tests.sending_campaign('p', 250) as id;
grant select on tests.controlled to authenticated;
select is(tests.claim('in-flight', 1), 100, 'fixture: one chunk of the campaign is in flight');

select tests.authenticate_as('alice');
update public.email_campaigns set status = 'paused' where id = (select id from tests.controlled);
select tests.clear_authentication();
select results_eq(
  $$select paused, leased_by is not null, count(*)::integer from private.email_queue
    where email_campaign_id = (select id from tests.controlled) group by 1, 2 order by 2$$,
  $$values (true, false, 150), (true, true, 100)$$,
  'pausing marks every queued row of the campaign paused, in flight or not'
);
select is(tests.claim('w10'), 0, 'nothing of a paused campaign is claimed');
update private.email_queue set lease_until = now() - interval '1 second' where leased_by = 'in-flight';
select is(tests.claim('w10'), 0, 'not even rows whose lease ran out');
select is(
  private.complete_email_batch('in-flight', tests.results('in-flight', 'sent')) ->> 'sent',
  '100', 'what was in flight when the campaign was paused is recorded when it comes back'
);

select tests.authenticate_as('alice');
update public.email_campaigns set status = 'sending' where id = (select id from tests.controlled);
select tests.clear_authentication();
select is(
  (select count(*)::integer from private.email_queue where email_campaign_id = (select id from tests.controlled) and paused),
  0, 'resuming unpauses the rows'
);
select is(tests.claim('w11', 1), 100, 'and the next chunk is claimed');

select tests.authenticate_as('alice');
update public.email_campaigns set status = 'cancelled' where id = (select id from tests.controlled);
select tests.clear_authentication();
select results_eq(
  $$select d.status, q.leased_by, count(*)::integer from public.email_deliveries as d
    left join private.email_queue as q on q.delivery_id = d.id
    where d.email_campaign_id = (select id from tests.controlled) group by 1, 2 order by 1, 2$$,
  $$values ('cancelled', null::text, 50), ('queued', 'w11', 100), ('sent', null, 100)$$,
  'cancelling cancels the queued deliveries, leaves the sent ones alone and the one chunk in flight to its worker'
);
select is(
  private.complete_email_batch('w11', (
    select jsonb_agg(jsonb_build_object('delivery_id', delivery_id,
      'outcome', case when email < 'p160' then 'sent' else 'retry' end)) from tests.claims where worker = 'w11')),
  '{"sent": 59, "retried": 0, "failed": 0, "dead_lettered": 0, "cancelled": 41, "ignored": 0}'::jsonb,
  'the worker''s sends are recorded; its retries of the cancelled campaign are cancelled'
);
select results_eq(
  $$select status, count(*)::integer from public.email_deliveries
    where email_campaign_id = (select id from tests.controlled) group by 1 order by 1$$,
  $$values ('cancelled', 91), ('sent', 159)$$,
  'nothing sent was touched: 159 sent, 91 cancelled'
);
select is(
  (select count(*)::integer from private.email_queue where email_campaign_id = (select id from tests.controlled)),
  0, 'the cancelled campaign has nothing left in the queue'
);

-- A worker that never reports on a cancelled campaign: the tick cancels its rows once the lease is over.
create table tests.abandoned as select tests.sending_campaign('z', 10) as id;
select is(tests.claim('ghost'), 10, 'fixture: a worker takes a chunk and disappears');
update public.email_campaigns set status = 'cancelled' where id = (select id from tests.abandoned);
do $$ begin perform tests.tick(); end; $$;
select is(
  (select count(*)::integer from private.email_queue where email_campaign_id = (select id from tests.abandoned)),
  10, 'while the lease lasts, the tick leaves the rows to their worker'
);
update private.email_queue set lease_until = now() - interval '1 second' where leased_by = 'ghost';
do $$ begin perform tests.tick(); end; $$;
select results_eq(
  $$select d.status, count(q.delivery_id)::integer from public.email_deliveries as d
    left join private.email_queue as q on q.delivery_id = d.id
    where d.email_campaign_id = (select id from tests.abandoned) group by 1$$,
  $$values ('cancelled', 0)$$,
  'after it, the tick cancels them'
);

select * from finish();
rollback;
