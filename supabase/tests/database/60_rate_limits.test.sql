-- Rate limits (issue 8 §8): private.rate_limit_hit counts hits per (bucket, key, fixed
-- window), answers null within the limit and the seconds to wait beyond it (writing
-- nothing), keeps buckets, keys and windows apart, refuses bad arguments by name; the purge
-- takes ended windows only and runs from cron under one stable name; nothing of it is
-- reachable from the API roles.
begin;
\ir _helpers.psql

select plan(36);

-- Counters left by earlier runs are not this test's (the transaction restores them).
delete from private.rate_limit_counters;

-- Shape -------------------------------------------------------------------------------------

select has_table('private', 'rate_limit_counters', 'private.rate_limit_counters exists');
select columns_are('private', 'rate_limit_counters',
  array['bucket', 'key', 'window_start', 'expires_at', 'hits'],
  'a counter is a bucket, a key, a window and its hits');
select col_is_pk('private', 'rate_limit_counters', array['bucket', 'key', 'window_start'],
  'one counter per bucket, key and window');
select is((select relpersistence::text from pg_class where oid = 'private.rate_limit_counters'::regclass),
  'u', 'the counters are unlogged (worth nothing after a crash, cheaper per hit)');
select isnt(obj_description('private.rate_limit_counters'::regclass, 'pg_class'), null,
  'private.rate_limit_counters has a comment');

-- Counting ----------------------------------------------------------------------------------
-- now() is fixed inside this transaction: every hit below falls in the same window.

select is(private.rate_limit_hit('track:ip', '198.51.100.7', 3, 60), null, 'hit 1 of 3 passes');
select is(private.rate_limit_hit('track:ip', '198.51.100.7', 3, 60), null, 'hit 2 of 3 passes');
select is(private.rate_limit_hit('track:ip', '198.51.100.7', 3, 60), null, 'hit 3 of 3 passes');
select ok(private.rate_limit_hit('track:ip', '198.51.100.7', 3, 60) between 1 and 60,
  'hit 4 is refused with the seconds left in the 60-second window');
select ok(private.rate_limit_hit('track:ip', '198.51.100.7', 3, 60) between 1 and 60,
  'and so is hit 5');
select is(
  (select hits from private.rate_limit_counters where bucket = 'track:ip' and key = '198.51.100.7'),
  3, 'refused hits write nothing: the counter stays at the limit');
select is(
  (select extract(epoch from window_start)::bigint % 60 from private.rate_limit_counters
   where bucket = 'track:ip' and key = '198.51.100.7'),
  0::bigint, 'windows start at multiples of their length');
select is(
  (select expires_at - window_start from private.rate_limit_counters
   where bucket = 'track:ip' and key = '198.51.100.7'),
  interval '60 seconds', 'a window ends after its length');
select is(
  private.rate_limit_hit('track:ip', '198.51.100.7', 3, 60),
  (select ceil(extract(epoch from expires_at - now()))::integer from private.rate_limit_counters
   where bucket = 'track:ip' and key = '198.51.100.7'),
  'the answer is the time until the window ends, rounded up');

select is(private.rate_limit_hit('track:ip', '198.51.100.8', 3, 60), null,
  'another key in the same bucket has its own count');
select is(private.rate_limit_hit('track:token', '198.51.100.7', 3, 60), null,
  'the same key in another bucket has its own count');
select is(private.rate_limit_hit('track:ip', '198.51.100.7', 4, 60), null,
  'a higher limit lets the next hit through');

-- A full counter of the previous window does not count in this one.
insert into private.rate_limit_counters (bucket, key, window_start, expires_at, hits)
values ('forms:ip', '203.0.113.9',
        to_timestamp(floor(extract(epoch from now()) / 60) * 60) - interval '60 seconds',
        to_timestamp(floor(extract(epoch from now()) / 60) * 60), 1000);
select is(private.rate_limit_hit('forms:ip', '203.0.113.9', 5, 60), null,
  'a new window starts from zero, whatever the last one counted');

-- Bad arguments: named, and nothing counted.
select throws_ok($$select private.rate_limit_hit('', 'k', 1, 60)$$, '22023',
  'rate_limit_hit: bucket must name the limit (e.g. ''track:ip''), in 1 to 100 characters',
  'an empty bucket is refused by name');
select throws_ok($$select private.rate_limit_hit('b', null, 1, 60)$$, '22023',
  'rate_limit_hit: key must be 1 to 200 characters (an IP address, a token''s digest)',
  'a missing key is refused by name');
select throws_ok($$select private.rate_limit_hit('b', repeat('k', 201), 1, 60)$$, '22023',
  'rate_limit_hit: key must be 1 to 200 characters (an IP address, a token''s digest)',
  'an overlong key is refused by name');
select throws_ok($$select private.rate_limit_hit('b', 'k', 0, 60)$$, '22023',
  'rate_limit_hit: max_hits must be at least 1, not 0', 'a limit of 0 is refused');
select throws_ok($$select private.rate_limit_hit('b', 'k', 1, 0)$$, '22023',
  'rate_limit_hit: window_seconds must be between 1 and 86400, not 0', 'a window of 0 is refused');
select throws_ok($$select private.rate_limit_hit('b', 'k', 1, 86401)$$, '22023',
  'rate_limit_hit: window_seconds must be between 1 and 86400, not 86401',
  'a window over a day is refused');
select is((select count(*)::int from private.rate_limit_counters where bucket = 'b'), 0,
  'refused calls count nothing');

-- The purge ---------------------------------------------------------------------------------

select is(private.purge_rate_limits(), 1, 'the purge deletes the one ended window');
select is((select count(*)::int from private.rate_limit_counters), 4,
  'the current windows survive the purge');
select is(private.purge_rate_limits(), 0, 'a second run finds nothing more');

-- Privileges and settings -------------------------------------------------------------------

select ok(not has_function_privilege(r, 'private.rate_limit_hit(text, text, integer, integer)', 'EXECUTE')
          and not has_function_privilege(r, 'private.purge_rate_limits()', 'EXECUTE'),
  format('%s may run neither the counter nor the purge', r))
from unnest(array['public', 'anon', 'authenticated', 'service_role']) with ordinality as t (r, n)
order by n;
select is(
  (select count(*)::int from information_schema.role_table_grants
   where table_schema = 'private' and table_name = 'rate_limit_counters'
     and grantee in ('PUBLIC', 'anon', 'authenticated', 'service_role')),
  0, 'no API role holds any privilege on the counters');
select is(
  (select proconfig from pg_proc where oid = 'private.rate_limit_hit(text, text, integer, integer)'::regprocedure),
  array['search_path=""'], 'rate_limit_hit sets search_path = ''''');

-- The schedule ------------------------------------------------------------------------------

select results_eq(
  $$select schedule, command from cron.job where jobname = 'beacon-purge-rate-limits'$$,
  $$values ('*/5 * * * *'::text, 'select private.purge_rate_limits()'::text)$$,
  'every 5 minutes, cron purges ended rate-limit windows');
do $do$
begin
  perform cron.schedule('beacon-purge-rate-limits', '*/5 * * * *', 'select private.purge_rate_limits()');
end;
$do$;
select is((select count(*)::int from cron.job where jobname = 'beacon-purge-rate-limits'), 1,
  'the purge job exists once, whatever the re-runs');

select * from finish();
rollback;
