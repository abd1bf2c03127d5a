-- The generic queue (migration jobs, docs/queue.md): kinds, idempotent enqueue, claims under
-- a lease (fair across owners, never the same job twice), an expired lease re-claimed,
-- retries with backoff or the provider's retry-after, attempts given back, dead letters,
-- results of lost leases ignored, bad results refused with the path of the problem, held and
-- cancelled subjects, and no client role reaching any of it. Concurrent claimers on separate
-- connections: supabase/tests/jobs_claim_test.ts.
begin;
\ir _helpers.psql

select plan(75);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('bob');
  perform private.register_job_kind('test_ping', 3, 60);
end;
$$;

-- Kinds ----------------------------------------------------------------------------------------
select is((select row(max_attempts, lease_seconds)::text from private.job_kinds where kind = 'test_ping'), '(3,60)',
  'a kind is registered with its attempts and lease');
select lives_ok($$select private.register_job_kind('test_ping', 3, 60)$$, 'registering again is safe');
select throws_ok($$select private.register_job_kind('Test Ping', 3, 60)$$, '22023',
  'register_job_kind: kind must be 1 to 50 lower-case letters, digits or _, starting with a letter, not ''Test Ping''',
  'a bad kind name is refused, named');
select throws_ok($$select private.register_job_kind('x', 0, 60)$$, '22023',
  'register_job_kind: max_attempts must be between 1 and 100, not 0', 'max_attempts is checked');
select throws_ok($$select private.register_job_kind('x', 3, null)$$, '22023',
  'register_job_kind: lease_seconds must be between 1 and 3600, not null', 'lease_seconds is checked');
select throws_ok($$select * from private.claim_jobs('no_such_kind', 1)$$, '22023',
  'claim_jobs: ''no_such_kind'' is not a kind of job', 'claiming an unknown kind is an error, not silence');
select throws_ok($$select private.complete_jobs('no_such_kind', '[]')$$, '22023',
  'complete_jobs: ''no_such_kind'' is not a kind of job', 'so is reporting one');
select throws_ok($$select * from private.claim_jobs('test_ping', 0)$$, '22023',
  'claim_jobs: p_limit must be between 1 and 1000, not 0', 'p_limit is checked');
select throws_ok($$insert into private.jobs (kind, key, user_id) values ('no_such_kind', 'k', tests.get_user_id('alice'))$$,
  '23503', null, 'a job needs a registered kind');

-- Idempotent enqueue -------------------------------------------------------------------------
create table tests.enqueued as
with ins as (
  insert into private.jobs (kind, key, user_id, subject_id, payload)
  select 'test_ping', 'alice-' || n, tests.get_user_id('alice'), '00000000-0000-4000-8000-00000000a11c', jsonb_build_object('n', n)
  from generate_series(1, 6) as n
  on conflict (kind, key) do nothing
  returning id
)
select count(*)::integer as n from ins;
select is((select n from tests.enqueued), 6, 'six jobs are enqueued');
select is_empty(
  $$insert into private.jobs (kind, key, user_id) values ('test_ping', 'alice-1', tests.get_user_id('alice'))
    on conflict (kind, key) do nothing returning id$$,
  'enqueueing a key again adds nothing');
select is((select count(*)::integer from private.jobs where kind = 'test_ping'), 6, 'still six jobs');
select results_eq(
  $$select distinct status, attempts, lease_until is null, run_after <= now() from private.jobs where kind = 'test_ping'$$,
  $$values ('ready', 0, true, true)$$, 'new jobs are ready now, unattempted, unleased');
select throws_ok($$insert into private.jobs (kind, key, user_id, payload) values ('test_ping', 'bad', tests.get_user_id('alice'), '[]')$$,
  '23514', null, 'a payload is an object');
select throws_ok($$insert into private.jobs (kind, key, user_id, status) values ('test_ping', 'bad', tests.get_user_id('alice'), 'running')$$,
  '23514', null, 'status is one of ready, held, done, failed, dead');

-- Claims ---------------------------------------------------------------------------------------
create table tests.claims (worker text, id bigint, attempts integer, lease_until timestamptz);
insert into tests.claims select 'w1', id, attempts, lease_until from private.claim_jobs('test_ping', 2);
insert into tests.claims select 'w2', id, attempts, lease_until from private.claim_jobs('test_ping', 3);
select is((select count(*)::integer from tests.claims where worker = 'w1'), 2, 'a claim takes at most p_limit');
select is((select count(*)::integer from tests.claims where worker = 'w2'), 3, 'the next claim takes others');
select is((select count(distinct id)::integer from tests.claims), 5, 'two claimers never get the same job');
select ok((select bool_and(attempts = 1 and lease_until = now() + interval '60 seconds') from tests.claims),
  'a claimed job is leased for the kind''s lease_seconds, its attempt counted');
select is((select array_agg(id order by id) from private.claim_jobs('test_ping', 10)),
  (select array_agg(id order by id) from private.jobs where kind = 'test_ping' and id not in (select id from tests.claims)),
  'a later claim gets only the job nobody holds');
select is((select count(*)::integer from private.claim_jobs('test_ping', 10)), 0, 'then nothing is due');

-- A lease that runs out --------------------------------------------------------------------------
update private.jobs set lease_until = now() - interval '1 second' where id in (select id from tests.claims where worker = 'w1');
create table tests.reclaimed as select * from private.claim_jobs('test_ping', 10);
select is((select array_agg(id order by id) from tests.reclaimed),
  (select array_agg(id order by id) from tests.claims where worker = 'w1'),
  'once its lease has run out a job is claimed again');
select ok((select bool_and(attempts = 2) from tests.reclaimed), 'as its second attempt');

-- Results --------------------------------------------------------------------------------------
create function tests.job_id(key text)
returns bigint
language sql
as $$ select id from private.jobs where kind = 'test_ping' and key = job_id.key $$;
create function tests.job(n integer)
returns bigint
language sql
as $$ select tests.job_id('alice-' || n) $$;

select is(
  private.complete_jobs('test_ping', jsonb_build_array(
    jsonb_build_object('id', tests.job(1), 'outcome', 'done', 'result', '{"provider_id": "p-1"}'::jsonb, 'attempt', 1))),
  0, 'a result naming an attempt whose lease was lost (claimed again since) is ignored');
select is(
  private.complete_jobs('test_ping', jsonb_build_array(
    jsonb_build_object('id', tests.job(1), 'outcome', 'done', 'result', '{"provider_id": "p-1"}'::jsonb, 'attempt', 2),
    jsonb_build_object('id', tests.job(1), 'outcome', 'failed', 'error', 'reported twice'),
    jsonb_build_object('id', tests.job(3), 'outcome', 'failed', 'error', '422 invalid recipient'),
    jsonb_build_object('id', tests.job(4), 'outcome', 'retry', 'error', '503 unavailable'),
    jsonb_build_object('id', tests.job(5), 'outcome', 'retry', 'error', '429 slow down', 'retry_after_seconds', 600),
    jsonb_build_object('id', tests.job(6), 'outcome', 'retry', 'error', '429 rate limited', 'retry_after_seconds', 5,
                       'count_attempt', false))),
  5, 'the holder''s batch applies in one call (a job reported twice counts once, as first reported)');
select is((select row(status, result, lease_until)::text from private.jobs where id = tests.job(1)),
  '(done,"{""provider_id"": ""p-1""}",)', 'done: the result kept, the lease cleared');
select is((select row(status, last_error, attempts)::text from private.jobs where id = tests.job(3)),
  '(failed,"422 invalid recipient",1)', 'failed: for good, with the error');
select ok(
  (select status = 'ready' and lease_until is null and last_error = '503 unavailable' and attempts = 1
      and run_after - now() >= interval '30 seconds' and run_after - now() < interval '37.5 seconds'
   from private.jobs where id = tests.job(4)),
  'retry: ready again after 30 s (private.retry_backoff) plus up to 25% jitter, the error kept');
select ok(
  (select run_after = now() + interval '600 seconds' from private.jobs where id = tests.job(5)),
  'retry_after_seconds: exactly when the provider said');
select is(
  (select row(attempts, run_after = now() + interval '5 seconds', last_error)::text from private.jobs where id = tests.job(6)),
  '(0,t,"429 rate limited")', 'count_attempt false: the attempt is given back');
select is(
  private.complete_jobs('test_ping', jsonb_build_array(jsonb_build_object('id', tests.job(1), 'outcome', 'retry'),
                                                       jsonb_build_object('id', tests.job(4), 'outcome', 'done'))),
  0, 'reporting a finished job, or one waiting for its retry, changes nothing');
select is((select status from private.jobs where id = tests.job(1)), 'done', 'the finished job stays done');
select is(private.complete_jobs('test_ping', '[]'), 0, 'an empty batch is fine');
select is(private.complete_jobs('test_ping', jsonb_build_array(jsonb_build_object('id', 999999999, 'outcome', 'done'))),
  0, 'an unknown id is ignored');
select is((select count(*)::integer from private.claim_jobs('test_ping', 10)), 0,
  'jobs waiting for their retry are not claimed early');

-- Dead letters -------------------------------------------------------------------------------
create function tests.fail_once(id bigint, count_attempt boolean default true)
returns integer
language plpgsql
as $$
begin
  update private.jobs as j set run_after = now() - interval '1 second' where j.id = fail_once.id;
  perform private.claim_jobs('test_ping', 10);
  return private.complete_jobs('test_ping', jsonb_build_array(jsonb_build_object('id', id, 'outcome', 'retry',
    'error', 'timeout', 'count_attempt', count_attempt)));
end;
$$;
select is(tests.fail_once(tests.job(4)) + tests.fail_once(tests.job(4)), 2, 'attempts two and three fail');
select is((select row(status, attempts, last_error, lease_until)::text from private.jobs where id = tests.job(4)),
  '(dead,3,"gave up after 3 attempts: timeout",)', 'the kind''s max_attempts-th failure dead-letters the job');
select is((select count(*)::integer from private.claim_jobs('test_ping', 10) where id = tests.job(4)), 0,
  'a dead job is never claimed');
select is(tests.fail_once(tests.job(6), false) + tests.fail_once(tests.job(6), false) + tests.fail_once(tests.job(6), false)
          + tests.fail_once(tests.job(6), false), 4, 'rate-limited four times, attempts given back');
select is((select row(status, attempts)::text from private.jobs where id = tests.job(6)), '(ready,0)',
  'a rate-limited job never dies of it');
-- A worker that died on the last attempt: the next claim dead-letters instead of leasing.
update private.jobs set attempts = 3, lease_until = now() - interval '1 second', run_after = now() - interval '1 minute',
  last_error = null where id = tests.job(5);
select is((select count(*)::integer from private.claim_jobs('test_ping', 10) where id = tests.job(5)), 0,
  'a job whose last lease ran out with no attempt left is not handed out');
select is((select row(status, last_error)::text from private.jobs where id = tests.job(5)),
  '(dead,"gave up after 3 attempts: no result came back before the lease ran out")', 'it is dead, and says why');

-- Fair claims across owners ------------------------------------------------------------------
-- bob has 1 due job, alice 20 older ones: bob's is in the first batch of 4.
delete from private.jobs where kind = 'test_ping';
insert into private.jobs (kind, key, user_id, run_after)
select 'test_ping', 'alice-flood-' || n, tests.get_user_id('alice'), now() - interval '1 hour' + n * interval '1 second'
from generate_series(1, 20) as n;
insert into private.jobs (kind, key, user_id, run_after) values ('test_ping', 'bob-1', tests.get_user_id('bob'), now() - interval '1 second');
select results_eq(
  $$select user_id, count(*)::integer from private.claim_jobs('test_ping', 4) group by user_id order by count(*)$$,
  $$values (tests.get_user_id('bob'), 1), (tests.get_user_id('alice'), 2)$$,
  'one owner''s backlog never keeps another''s job out of the next batch (an equal share each)');
select is((select min(key) from private.jobs where kind = 'test_ping' and user_id = tests.get_user_id('alice') and attempts = 1),
  'alice-flood-1', 'each owner''s longest-waiting jobs go first');

-- Held and cancelled subjects ----------------------------------------------------------------
delete from private.jobs where kind = 'test_ping';
insert into private.jobs (kind, key, user_id, subject_id)
select 'test_ping', 's-' || n, tests.get_user_id('alice'), '00000000-0000-4000-8000-0000000005b1'
from generate_series(1, 3) as n;
create table tests.in_flight as select id from private.claim_jobs('test_ping', 1);
select is(private.hold_jobs('test_ping', '00000000-0000-4000-8000-0000000005b1', true), 3, 'hold_jobs holds the subject''s ready jobs');
select is((select count(*)::integer from private.claim_jobs('test_ping', 10)), 0, 'held jobs are not claimed');
select is(private.complete_jobs('test_ping', jsonb_build_array(jsonb_build_object('id', (select id from tests.in_flight), 'outcome', 'retry'))),
  1, 'a worker holding a job when it was held still reports it');
select is((select status from private.jobs where id = (select id from tests.in_flight)), 'held', 'and a retry stays held');
select is(private.hold_jobs('test_ping', '00000000-0000-4000-8000-0000000005b1', false), 3, 'hold_jobs(..., false) makes them ready again');
select is((select count(*)::integer from private.claim_jobs('test_ping', 10)), 2, 'and claimable (the retried one waits its backoff)');
select is((select count(*)::integer from private.cancel_jobs('test_ping', '00000000-0000-4000-8000-0000000005b1', 'campaign cancelled')),
  1, 'cancel_jobs fails the waiting jobs, not the ones a worker holds');
select is((select string_agg(status || ' ' || coalesce(last_error, '-'), ', ' order by status) from private.jobs where kind = 'test_ping'),
  'failed campaign cancelled, ready -, ready -', 'with the reason given');

-- An expired lease is no obstacle to cancelling.
update private.jobs set lease_until = now() - interval '1 second' where kind = 'test_ping' and status = 'ready';
select is((select count(*)::integer from private.cancel_jobs('test_ping', '00000000-0000-4000-8000-0000000005b1', 'campaign cancelled')),
  2, 'cancel_jobs also fails jobs whose worker''s lease ran out');
select is((select count(*)::integer from private.jobs where kind = 'test_ping' and (status <> 'failed' or lease_until is not null)), 0,
  'their leases cleared');

-- Named workers ------------------------------------------------------------------------------
delete from private.jobs where kind = 'test_ping';
insert into private.jobs (kind, key, user_id) values ('test_ping', 'named', tests.get_user_id('alice'));
select is((select leased_by from private.claim_jobs('test_ping', 1, 'worker-a')), 'worker-a', 'a claim records the worker that names itself');
select is(private.complete_jobs('test_ping', jsonb_build_array(jsonb_build_object('id', tests.job_id('named'), 'outcome', 'done')), 'worker-b'),
  0, 'another worker''s report on it is ignored');
select is(private.complete_jobs('test_ping', jsonb_build_array(jsonb_build_object('id', tests.job_id('named'), 'outcome', 'done')), 'worker-a'),
  1, 'its holder''s report applies');
select is((select row(status, leased_by, lease_until)::text from private.jobs where key = 'named'), '(done,,)', 'and clears the lease');
select throws_ok($$select * from private.claim_jobs('test_ping', 1, ' ')$$, '22023',
  'claim_jobs: p_worker must name the worker, in 1 to 200 characters (or be null)', 'a blank worker name is refused');

-- Bad results ----------------------------------------------------------------------------------
select throws_ok($$select private.complete_jobs('test_ping', '{}')$$, '22023', 'complete_jobs: p_results must be a JSON array',
  'results must be an array');
insert into private.jobs (kind, key, user_id) values ('test_ping', 'held-through-bad-batch', tests.get_user_id('alice'));
select is((select count(*)::integer from private.claim_jobs('test_ping', 1)), 1, 'a job is leased');
select throws_ok(format($$select private.complete_jobs('test_ping', '[{"id": %s, "outcome": "done"}, {"id": "1", "outcome": "done"}]')$$,
                        tests.job_id('held-through-bad-batch')),
  '22023', 'complete_jobs: results[1].id: "1" is not a job id', 'an id must be a number, the result named');
select throws_ok($$select private.complete_jobs('test_ping', '[{"id": 1, "outcome": "sent"}]')$$,
  '22023', 'complete_jobs: results[0].outcome: "sent" is not done, retry or failed', 'outcome is one of three');
select throws_ok($$select private.complete_jobs('test_ping', '[{"id": 1, "outcome": "retry", "retry_after_seconds": 1.5}]')$$,
  '22023', 'complete_jobs: results[0].retry_after_seconds: expected a whole number from 0 to 86400, not 1.5',
  'retry_after_seconds is a whole number of seconds');
select throws_ok($$select private.complete_jobs('test_ping', '[{"id": 1, "outcome": "retry", "count_attempt": "no"}]')$$,
  '22023', 'complete_jobs: results[0].count_attempt: expected true or false, not "no"', 'count_attempt is a boolean');
select throws_ok($$select private.complete_jobs('test_ping', '[{"id": 1, "outcome": "failed", "error": 42}]')$$,
  '22023', 'complete_jobs: results[0].error: expected a string, not 42', 'error is a string');
select is((select row(status, lease_until is not null)::text from private.jobs where id = tests.job_id('held-through-bad-batch')),
  '(ready,t)', 'a refused batch changes nothing, not even its good results');

-- Privileges -------------------------------------------------------------------------------------
select table_privs_are('private', t, r, '{}', format('%s has no privilege on private.%s', r, t))
from unnest(array['jobs', 'job_kinds']) as t
cross join unnest(array['anon', 'authenticated']) as r;
select ok((select bool_and(relrowsecurity) from pg_class where oid in ('private.jobs'::regclass, 'private.job_kinds'::regclass)),
  'both tables have row level security (and no policy: no client reads them)');

select tests.authenticate_as('alice');
select throws_ok($$select * from private.claim_jobs('test_ping', 1)$$, '42501', 'permission denied for schema private',
  'a signed-in user cannot claim');
select throws_ok($$select private.complete_jobs('test_ping', '[]')$$, '42501', 'permission denied for schema private',
  'nor report');
select tests.authenticate_as_anon();
select throws_ok($$select * from private.jobs$$, '42501', 'permission denied for schema private', 'a visitor cannot read jobs');
select tests.clear_authentication();

select * from finish();
rollback;
