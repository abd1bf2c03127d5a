-- public.background_failures(): the failures shared jobs recorded in tables apps cannot read
-- (lead inserts whose workflows did not start, report days, analytics retention, expiry of
-- unconfirmed leads) are readable by their owner, and by nobody else; visitors are refused.
begin;
\ir _helpers.psql

select plan(6);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

-- What the jobs record when an owner's work fails.
insert into private.lead_changes (user_id, leads, error, failed_at, attempts, retry_at)
select tests.get_user_id(o), '[{}, {}]', o || ': invalid input syntax for type uuid', now() - interval '3 minutes', 1,
  now() + interval '30 seconds'
from unnest(array['alice', 'mallory']) as o;
insert into private.event_rollup_dirty (user_id, day, last_error, failed_at)
select tests.get_user_id(o), date '2026-12-01', o || ': rollup failed', now() - interval '2 minutes'
from unnest(array['alice', 'mallory']) as o;
insert into private.analytics_retention_failures (user_id, error, failed_at)
select tests.get_user_id(o), o || ': retention failed', now() - interval '1 minute'
from unnest(array['alice', 'mallory']) as o;
insert into private.unconfirmed_expiry_failures (user_id, error, failed_at)
select tests.get_user_id(o), o || ': expiry failed', now()
from unnest(array['alice', 'mallory']) as o;
-- A day waiting for its rollup, not failed, is no failure.
insert into private.event_rollup_dirty (user_id, day) values (tests.get_user_id('alice'), date '2026-12-02');

select tests.authenticate_as('alice');
select is(
  (select array_agg(f.job || ' ' || coalesce(f.object_type, '-') || ' ' || f.reason order by f.failed_at desc)
   from public.background_failures() as f),
  array[
    'beacon-expire-unconfirmed-leads - alice: expiry failed',
    'beacon-analytics-retention - alice: retention failed',
    'beacon-event-rollups report_day alice: rollup failed',
    'beacon-lead-changes lead_insert alice: invalid input syntax for type uuid (the workflows of 2 inserted lead(s) have not started)'],
  'alice reads her own recorded failures, newest first, with the reason');
select is(
  (select f.object_id from public.background_failures() as f where f.job = 'beacon-event-rollups'),
  '2026-12-01', 'each names the object it concerns where there is one (the report day)');
select is(
  (select f.retry_at > f.failed_at from public.background_failures() as f where f.job = 'beacon-lead-changes'),
  true, 'and when it is retried');
select is_empty($$select from public.background_failures() as f where f.reason like '%mallory%'$$,
  'never mallory''s');
select tests.clear_authentication();

select tests.authenticate_as_anon();
select throws_ok('select * from public.background_failures()', '42501', null, 'a visitor is refused');
select tests.clear_authentication();

-- A signed-in role without a user (a service key calling it through PostgREST) is refused too.
set local role authenticated;
select throws_ok('select * from public.background_failures()', '42501',
  'background_failures: sign in first; it lists the signed-in owner''s own failures', 'a caller without a user is refused');
reset role;

select * from finish();
rollback;
