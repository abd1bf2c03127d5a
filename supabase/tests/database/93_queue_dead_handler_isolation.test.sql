-- One owner's dead job cannot stop the claims (migration claim_jobs_dead_handler_isolation):
-- a kind's dead_handler that fails on mallory's dead job leaves that job dead with the reason,
-- settles alice's dead job, and the claim still hands out alice's work; the next claims do not
-- try mallory's job again.
begin;
\ir _helpers.psql

select plan(8);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

-- Waiting jobs of others (on a developer's database) stay out of this file's claims.
update private.jobs set status = 'held' where status = 'ready';

-- A handler that settles its jobs' subjects, and cannot settle a poisoned one.
create table tests.settled (job_id bigint);
create function tests.settle_or_refuse(job_ids bigint[])
returns void
language plpgsql
as $$
begin
  if exists (select from private.jobs where id = any (job_ids) and payload ? 'poison') then
    raise exception 'subject % cannot be settled', (
      select payload ->> 'poison' from private.jobs where id = any (job_ids) and payload ? 'poison' limit 1);
  end if;
  insert into tests.settled select unnest(job_ids);
end;
$$;
select private.register_job_kind('test_poison', 1, 60);
update private.job_kinds set dead_handler = 'tests.settle_or_refuse' where kind = 'test_poison';

-- Each owner has a job whose only lease ran out with no report; alice has fresh work too.
insert into private.jobs (kind, key, user_id, payload, attempts, lease_until, run_after)
values ('test_poison', 'alice-dead', tests.get_user_id('alice'), '{}', 1, now() - interval '1 second', now() - interval '2 minutes'),
       ('test_poison', 'mallory-dead', tests.get_user_id('mallory'), '{"poison": "post 42"}', 1,
        now() - interval '1 second', now() - interval '2 minutes'),
       ('test_poison', 'alice-fresh', tests.get_user_id('alice'), '{}', 0, null, now() - interval '1 minute');

select results_eq(
  $$select key from private.claim_jobs('test_poison', 10, 'w1')$$,
  $$values ('alice-fresh')$$,
  'the claim hands out alice''s work though the handler fails on mallory''s dead job'
);
select results_eq(
  $$select key, status from private.jobs where kind = 'test_poison' and key like '%-dead' order by key$$,
  $$values ('alice-dead', 'dead'), ('mallory-dead', 'dead')$$,
  'both jobs with no attempt left are dead-lettered'
);
select results_eq(
  $$select j.key from tests.settled as s join private.jobs as j on j.id = s.job_id$$,
  $$values ('alice-dead')$$,
  'alice''s dead job is settled by the handler'
);
select is(
  (select last_error from private.jobs where key = 'mallory-dead'),
  'gave up after 1 attempts: no result came back before the lease ran out; its subject was not settled: '
    || 'tests.settle_or_refuse failed: subject post 42 cannot be settled (P0001)',
  'mallory''s job carries the reason its subject was not settled'
);
select is(
  (select last_error from private.jobs where key = 'alice-dead'),
  'gave up after 1 attempts: no result came back before the lease ran out',
  'alice''s job only says why it died'
);

-- The next claim does not try mallory's job again.
update private.jobs set lease_until = now() - interval '1 second', attempts = 0 where key = 'alice-fresh';
select results_eq(
  $$select key from private.claim_jobs('test_poison', 10, 'w2')$$,
  $$values ('alice-fresh')$$,
  'the next claim goes on'
);
select is((select count(*)::integer from tests.settled), 1, 'and hands nothing to the handler again');

-- With nothing poisoned, the handler is called once on every dead job.
update private.jobs set payload = '{}', status = 'ready', attempts = 1, lease_until = now() - interval '1 second'
where key like '%-dead';
delete from tests.settled;
create table tests.calls as select 0 as n;
create or replace function tests.settle_or_refuse(job_ids bigint[])
returns void
language sql
as $$
  update tests.calls set n = n + 1;
  insert into tests.settled select unnest(job_ids);
$$;
select private.claim_jobs('test_poison', 10, 'w3');
select is((select row(n, (select count(*) from tests.settled))::text from tests.calls), '(1,2)',
  'a handler that does not fail is called once, on every dead job');

select * from finish();
rollback;
