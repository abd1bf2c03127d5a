-- Daily event rollups: after random inserts, late events, an identify-style back-fill of
-- properties.lead_id, a delete and a double run, the rollup of every closed day equals the
-- raw counts; one owner whose recompute fails keeps its marks with the reason and does not
-- stop the others.
begin;
\ir _helpers.psql

select plan(13);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('bob');
  perform tests.create_user('mallory');
end;
$$;

-- Raw truth for closed days, in the rollup's shape.
create function tests.raw_rollups()
returns table (user_id uuid, day date, event_type text, event_name text, events bigint, anonymous_ids bigint, leads bigint)
language sql
as $$
  select e.user_id, (e."timestamp" at time zone 'UTC')::date, e.event_type, e.event_name,
         count(*), count(distinct e.anonymous_id), count(distinct e.properties ->> 'lead_id')
  from public.analytics_events as e
  where e."timestamp" < (now() at time zone 'UTC')::date::timestamp at time zone 'UTC'
  group by 1, 2, 3, 4
$$;

-- 600 random events over the last ten days (and today), two owners, a few names, some visitors
-- repeated, some carrying a lead id.
insert into public.analytics_events (user_id, event_type, event_name, properties, "timestamp", anonymous_id)
select tests.get_user_id(case when random() < 0.5 then 'alice' else 'bob' end),
       (array['page', 'track', 'identify'])[1 + floor(random() * 3)::int],
       (array['view', 'signup', 'click', 'download'])[1 + floor(random() * 4)::int],
       case when random() < 0.3 then jsonb_build_object('lead_id', 'lead-' || floor(random() * 5)::int) else '{}'::jsonb end,
       now() - random() * interval '10 days',
       case when random() < 0.9 then 'anon-' || floor(random() * 40)::int end
from generate_series(1, 600);

select ok((select count(*) > 0 from private.event_rollup_dirty where user_id = tests.get_user_id('alice')),
  'inserting events marks their (owner, day) pairs dirty');
select ok((select private.refresh_event_rollups() > 0), 'the job recomputes the marked closed days');
select set_eq(
  'select user_id, day, event_type, event_name, events, anonymous_ids, leads from private.event_rollups_daily',
  'select * from tests.raw_rollups()',
  'after random inserts the rollups equal the raw counts of every closed day');
select is((select count(*)::int from private.event_rollup_dirty
           where day < (now() at time zone 'UTC')::date),
  0, 'no closed day stays marked');
select ok((select count(*) > 0 from private.event_rollup_dirty
           where day = (now() at time zone 'UTC')::date),
  'today stays marked (reports read today raw)');
select is(private.refresh_event_rollups(), 0, 'a second run finds nothing to do');

-- Late events for a day already rolled up.
insert into public.analytics_events (user_id, event_type, event_name, properties, "timestamp", anonymous_id)
select tests.get_user_id('alice'), 'track', 'late', '{}', now() - interval '5 days', 'late-' || g
from generate_series(1, 7) as g;
select isnt_empty(
  'select * from tests.raw_rollups() except select user_id, day, event_type, event_name, events, anonymous_ids, leads from private.event_rollups_daily',
  'late events make the raw counts differ from the rollup until the job runs');
select private.refresh_event_rollups();
select set_eq(
  'select user_id, day, event_type, event_name, events, anonymous_ids, leads from private.event_rollups_daily',
  'select * from tests.raw_rollups()',
  'after late events and a run the rollups equal the raw counts');

-- identify back-fills properties.lead_id on earlier events (an UPDATE): distinct leads follow.
update public.analytics_events
set properties = properties || jsonb_build_object('lead_id', 'lead-backfilled')
where user_id = tests.get_user_id('alice') and event_name = 'late';
select private.refresh_event_rollups();
select private.refresh_event_rollups();
select set_eq(
  'select user_id, day, event_type, event_name, events, anonymous_ids, leads from private.event_rollups_daily',
  'select * from tests.raw_rollups()',
  'after a lead back-fill (update) and a double run the rollups equal the raw counts');

-- A delete empties a day's group: its rollup row goes.
delete from public.analytics_events where user_id = tests.get_user_id('alice') and event_name = 'late';
select private.refresh_event_rollups();
select is_empty(
  'select 1 from private.event_rollups_daily where event_name = ''late''',
  'deleted events leave the rollup');

-- Isolation: mallory's recompute fails; alice's goes on.
insert into public.analytics_events (user_id, event_type, event_name, "timestamp", anonymous_id)
values (tests.get_user_id('mallory'), 'track', 'boom', now() - interval '2 days', 'm1'),
       (tests.get_user_id('alice'), 'track', 'after', now() - interval '2 days', 'a1');
create function tests.fail_for_mallory() returns trigger language plpgsql as $$
begin
  if new.user_id = tests.get_user_id('mallory') then
    raise exception 'rollup storage refused mallory';
  end if;
  return new;
end;
$$;
create trigger fail_for_mallory before insert on private.event_rollups_daily
for each row execute function tests.fail_for_mallory();
select private.refresh_event_rollups();
select is((select count(*)::int from private.event_rollups_daily where event_name = 'after'), 1,
  'alice''s day is rolled up although mallory''s recompute failed');
select is((select last_error from private.event_rollup_dirty where user_id = tests.get_user_id('mallory')),
  'rollup storage refused mallory', 'mallory''s mark stays, with the reason');
select isnt((select failed_at from private.event_rollup_dirty where user_id = tests.get_user_id('mallory')),
  null, 'and when it failed');

select * from finish();
rollback;
