-- Event reports: report_events (rollups for clean closed days, raw rows for the rest, equal
-- to the raw truth at every interval), report_top_events, report_top_pages; another owner's
-- events never appear, anon may call none of them, and bad arguments fail with errors that
-- name what is wrong.
begin;
\ir _helpers.psql

select plan(24);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

-- Alice: events over the last 20 days and today; mallory: the same names, more of them.
insert into public.analytics_events (user_id, event_type, event_name, properties, "timestamp", anonymous_id)
select tests.get_user_id(o.who), (array['page', 'track'])[1 + g % 2],
       (array['view', 'signup', 'click'])[1 + g % 3],
       jsonb_build_object('path', '/p' || (g % 4)),
       now() - (g % 20) * interval '1 day' - (g % 7) * interval '1 hour',
       'anon-' || (g % 11)
from (values ('alice', 200), ('mallory', 500)) as o (who, n), generate_series(1, o.n) as g;
select private.refresh_event_rollups();
-- A late event on a rolled-up day: the report must still count it before the next run.
insert into public.analytics_events (user_id, event_type, event_name, "timestamp", anonymous_id)
values (tests.get_user_id('alice'), 'track', 'late', now() - interval '3 days', 'late-1');

create function tests.truth(f timestamptz, t timestamptz, iv text)
returns table (bucket timestamptz, event_type text, event_name text, count bigint)
language sql
as $$
  select date_trunc(iv, e."timestamp" at time zone 'UTC') at time zone 'UTC', e.event_type, e.event_name, count(*)
  from public.analytics_events as e
  where e.user_id = tests.get_user_id('alice') and e."timestamp" >= f and e."timestamp" < t
  group by 1, 2, 3
$$;
create table tests.range as select now() - interval '15 days 5 hours' as f, now() + interval '1 hour' as t;
grant select on tests.range to authenticated;

select tests.authenticate_as('alice');
select set_eq(
  $$select bucket, event_type, event_name, count from tests.range, public.report_events(f, t, 'day')$$,
  $$select x.* from tests.range, tests.truth(f, t, 'day') as x$$,
  'report_events by day equals alice''s raw counts (partial edge days, a late event, today)');
select set_eq(
  $$select bucket, event_type, event_name, count from tests.range, public.report_events(f, t, 'week')$$,
  $$select x.* from tests.range, tests.truth(f, t, 'week') as x$$,
  'by week');
select set_eq(
  $$select bucket, event_type, event_name, count from tests.range, public.report_events(f, t, 'month')$$,
  $$select x.* from tests.range, tests.truth(f, t, 'month') as x$$,
  'by month');
select set_eq(
  $$select bucket, event_type, event_name, count from tests.range, public.report_events(f, t, 'hour')$$,
  $$select x.* from tests.range, tests.truth(f, t, 'hour') as x$$,
  'by hour');
select set_eq(
  $$select bucket, event_type, event_name, count from tests.range, public.report_events(f, t, 'day', '{"event_type": "page", "event_name": "view"}')$$,
  $$select x.* from tests.range, tests.truth(f, t, 'day') as x where event_type = 'page' and event_name = 'view'$$,
  'filters keep only the named type and name');
select ok((select bool_and(uniques between 1 and count) from tests.range, public.report_events(f, t, 'day')),
  'uniques count distinct anonymous ids, at most the events');
select is((select sum(count)::int from public.report_top_events(now() - interval '30 days', now() + interval '1 hour', 100)),
  201, 'report_top_events counts alice''s 201 events, none of mallory''s');
select is((select sum(views)::int from public.report_top_pages(now() - interval '30 days', now() + interval '1 hour', 100)),
  100, 'report_top_pages counts alice''s 100 page views');
select is((select path from public.report_top_pages(now() - interval '30 days', now() + interval '1 hour', 1)),
  '/p0', 'the most viewed page first');

select throws_ok($$select * from public.report_events(now(), now() - interval '1 day', 'day')$$, '22023',
  'report_events: from_time and to_time are required and from_time must be before to_time', 'a reversed range is refused');
select throws_ok($$select * from public.report_events(now() - interval '1 day', now(), 'year')$$, '22023',
  'report_events: interval must be one of hour, day, week, month, not ''year''', 'an unknown interval is refused');
select throws_ok($$select * from public.report_events(now() - interval '1 day', now(), 'day', '[]')$$, '22023',
  'report_events: filters must be a JSON object, e.g. {"event_type": "page"}', 'filters that are not an object are refused');
select throws_ok($$select * from public.report_events(now() - interval '1 day', now(), 'day', '{"user_id": "x"}')$$, '22023',
  'report_events: filters.user_id is not a filter; the filters are event_type and event_name', 'an unknown filter is refused, by its path');
select throws_ok($$select * from public.report_events(now() - interval '1 day', now(), 'day', '{"event_type": 5}')$$, '22023',
  'report_events: filters.event_type must be a non-blank string, not 5', 'a filter that is not a string is refused, by its path');
select throws_ok($$select * from public.report_events(now() - interval '1 day', now(), 'day', '{"event_name": " "}')$$, '22023',
  'report_events: filters.event_name must be a non-blank string, not " "', 'a blank filter is refused, by its path');
select throws_ok($$select * from public.report_top_pages(now() - interval '1 day', now(), 0)$$, '22023',
  'report_top_pages: limit must be between 1 and 1000, not 0', 'a zero limit is refused');
select throws_ok($$select * from public.report_top_events(now() - interval '1 day', now(), 5000)$$, '22023',
  'report_top_events: limit must be between 1 and 1000, not 5000', 'a huge limit is refused');
select throws_ok($$select * from public.report_top_events(now(), now(), 5)$$, '22023',
  'report_top_events: from_time and to_time are required and from_time must be before to_time', 'report_top_events refuses an empty range');
select throws_ok($$select * from private.event_rollups_daily$$, '42501', null, 'alice cannot read the rollup table');

-- Closed clean days are read from the rollup (a tampered rollup shows), not rescanned.
select tests.clear_authentication();
update private.event_rollups_daily set events = events + 1000
where user_id = tests.get_user_id('alice') and day = (now() at time zone 'UTC')::date - 10
  and (event_type, event_name) = (select event_type, event_name from private.event_rollups_daily
    where user_id = tests.get_user_id('alice') and day = (now() at time zone 'UTC')::date - 10 limit 1);
select tests.authenticate_as('alice');
select is((select sum(count)::int from public.report_events(now() - interval '30 days', now() + interval '1 hour', 'day')),
  1201, 'report_events reads clean closed days from the rollup');

-- A user with no events sees none of alice's or mallory's.
select tests.clear_authentication();
select tests.create_user('eve');
select tests.authenticate_as('eve');
select is_empty($$select * from public.report_events(now() - interval '30 days', now() + interval '1 hour', 'day')$$,
  'eve, with no events, gets no rows from report_events');
select is_empty($$select * from reporting.event_days(current_date - 30, current_date + 1)$$,
  'nor from the rollup read path');
select is_empty($$select * from public.report_top_pages(now() - interval '30 days', now() + interval '1 hour', 10)$$,
  'nor from report_top_pages');

select tests.authenticate_as_anon();
select throws_ok($$select * from public.report_events(now() - interval '1 day', now(), 'day')$$, '42501', null,
  'anon may not call report_events');

select * from finish();
rollback;
