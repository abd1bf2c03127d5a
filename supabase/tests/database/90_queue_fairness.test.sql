-- Whom a claim serves (migration claim_jobs_due_owners, docs/queue.md): only owners with due,
-- unleased jobs take a place and a share. An owner whose ready jobs are all leased to other
-- workers, or not due yet, never makes a claim come back empty or short while another owner's
-- job waits; with leases live, successive claims go round the owners. The first claims and
-- the equal share per owner: 90_queue.test.sql.
begin;
\ir _helpers.psql

select plan(9);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('bob');
  perform tests.create_user('carol');
  perform private.register_job_kind('test_fair', 3, 60);
end;
$$;

-- Enqueues n jobs of owner, the first due `first` ago, the next `step` later each (keys owner-1, owner-2...).
create function tests.enqueue(owner text, n integer, first interval, step interval default '1 second')
returns void
language sql
as $$
  insert into private.jobs (kind, key, user_id, run_after)
  select 'test_fair', owner || '-' || i, tests.get_user_id(owner), now() - first + (i - 1) * step
  from generate_series(1, n) as i
$$;

-- The keys a claim of p_limit by worker leases, in order.
create function tests.claim(p_limit integer, worker text)
returns text
language sql
as $$
  select coalesce(string_agg(key, ' ' order by run_after, id), '') from private.claim_jobs('test_fair', p_limit, worker)
$$;

-- All of alice's jobs are leased to another worker -----------------------------------------------
select tests.enqueue('alice', 20, interval '1 hour');
select is(tests.claim(20, 'other'), (select string_agg('alice-' || i, ' ' order by i) from generate_series(1, 20) as i),
  'fixture: another worker holds all of alice''s jobs');
select tests.enqueue('bob', 1, interval '1 second');
select is(tests.claim(1, 'me'), 'bob-1',
  'a claim of one gets bob''s due job, not a place for alice, whose jobs are all leased');

-- ... or not due yet.
delete from private.jobs where kind = 'test_fair';
select tests.enqueue('alice', 5, interval '-1 hour');
select tests.enqueue('bob', 1, interval '1 second');
select is(tests.claim(1, 'me'), 'bob-1', 'an owner with only jobs not due yet takes no place either');

-- Short claims: alice's leased backlog takes no share from bob and carol.
delete from private.jobs where kind = 'test_fair';
select tests.enqueue('alice', 10, interval '1 hour');
select is(tests.claim(10, 'other'), (select string_agg('alice-' || i, ' ' order by i) from generate_series(1, 10) as i),
  'fixture: another worker holds all of alice''s jobs');
select tests.enqueue('bob', 3, interval '2 minutes');
select tests.enqueue('carol', 3, interval '1 minute');
select is(tests.claim(4, 'me'), 'bob-1 bob-2 carol-1 carol-2',
  'a claim of four is full: two each for the two owners with claimable jobs');

-- Longest-waiting by the first job an owner can hand out, not by one leased already.
delete from private.jobs where kind = 'test_fair';
select tests.enqueue('alice', 2, interval '1 hour');
select is(tests.claim(1, 'other'), 'alice-1', 'fixture: another worker holds alice''s oldest job');
update private.jobs set run_after = now() - interval '1 minute' where kind = 'test_fair' and key = 'alice-2';
select tests.enqueue('bob', 1, interval '10 minutes');
select is(tests.claim(1, 'me'), 'bob-1', 'bob''s job, due for 10 minutes, goes before alice''s next, due for 1');

-- Round robin: with every lease live, successive claims go round the owners ----------------------
delete from private.jobs where kind = 'test_fair';
select tests.enqueue('alice', 3, interval '30 minutes', interval '3 minutes');
select tests.enqueue('bob', 3, interval '29 minutes', interval '3 minutes');
select tests.enqueue('carol', 3, interval '28 minutes', interval '3 minutes');
select is(
  array[tests.claim(2, 'w1'), tests.claim(2, 'w2'), tests.claim(2, 'w3')],
  array['alice-1 bob-1', 'carol-1 alice-2', 'bob-2 carol-2'],
  'three claims of two while the first leases hold: every owner served twice, longest-waiting first'
);
select is(tests.claim(3, 'w4'), 'alice-3 bob-3 carol-3', 'and the last of each in the next claim of three');

select * from finish();
rollback;
