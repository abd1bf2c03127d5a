-- Event reports (issue 11): report_events, report_top_events, report_top_pages.
--
-- The RPCs are security invoker: raw rows are read through analytics_events' RLS. The
-- daily rollups stay in private (apps never read or write them); the one way in is
-- reporting.event_days, a security-definer function that returns the caller's own days
-- only (every row filtered by `(select auth.uid())`). It lives in its own schema
-- `reporting` (not exposed by PostgREST, usage granted to authenticated) rather than in
-- private, so that authenticated keeps no usage on private and no private function
-- becomes callable by apps. A day is read from its rollup when it is closed (before
-- today, UTC) and has no dirty mark; otherwise from the raw rows — so reports are exact
-- even before the rollup job has caught up with late events.

create schema reporting;
comment on schema reporting is
  'Security-definer read paths for the report RPCs (each returns the caller''s own rows only). Not exposed by PostgREST.';
revoke all on schema reporting from public;
grant usage on schema reporting to authenticated;

create function reporting.event_days(from_day date, to_day date)
returns table (day date, event_type text, event_name text, events bigint, anonymous_ids bigint)
language plpgsql
stable
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  -- Constants of the call (not a joined CTE), so both reads use the owner's index ranges.
  uid uuid := (select auth.uid());
  today date := (now() at time zone 'UTC')::date;
begin
  return query
  select r.day, r.event_type, r.event_name, r.events, r.anonymous_ids
  from private.event_rollups_daily as r
  where r.user_id = uid and r.day >= from_day and r.day < least(to_day, today)
    and not exists (
      select from private.event_rollup_dirty as d where d.user_id = uid and d.day = r.day)
  union all
  select x.day, e.event_type, e.event_name, count(*), count(distinct e.anonymous_id)
  from (
    -- closed days whose rollup is stale, then today and later
    select d.day from private.event_rollup_dirty as d
    where d.user_id = uid and d.day >= from_day and d.day < least(to_day, today)
    union all
    select g.day::date from generate_series(greatest(from_day, today), to_day - 1, interval '1 day') as g (day)
  ) as x
  join public.analytics_events as e
    on e.user_id = uid
   and e."timestamp" >= x.day::timestamp at time zone 'UTC'
   and e."timestamp" < (x.day + 1)::timestamp at time zone 'UTC'
  group by x.day, e.event_type, e.event_name;
end;
$$;
comment on function reporting.event_days(date, date) is
  'The caller''s events per UTC day in [from_day, to_day), type and name: from the rollup for clean closed days, from the raw rows for marked days and today. Security definer (the rollups are private); returns only rows of (select auth.uid()).';
revoke all on function reporting.event_days(date, date) from public, anon, authenticated, service_role;
grant execute on function reporting.event_days(date, date) to authenticated;

create function reporting.check_range(report text, from_time timestamptz, to_time timestamptz)
returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if check_range.from_time is null or check_range.to_time is null or check_range.from_time >= check_range.to_time then
    raise exception using errcode = 'invalid_parameter_value',
      message = format('%s: from_time and to_time are required and from_time must be before to_time', report);
  end if;
end;
$$;
comment on function reporting.check_range(text, timestamptz, timestamptz) is
  'The reports'' shared argument check: from and to given, from before to; the error names the report.';
revoke all on function reporting.check_range(text, timestamptz, timestamptz) from public, anon, authenticated, service_role;
grant execute on function reporting.check_range(text, timestamptz, timestamptz) to authenticated;

create function reporting.check_limit(report text, max_rows integer)
returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if check_limit.max_rows is null or check_limit.max_rows not between 1 and 1000 then
    raise exception using errcode = 'invalid_parameter_value',
      message = format('%s: limit must be between 1 and 1000, not %s', report, coalesce(check_limit.max_rows::text, 'null'));
  end if;
end;
$$;
comment on function reporting.check_limit(text, integer) is
  'The top-N reports'' shared argument check: limit between 1 and 1000; the error names the report.';
revoke all on function reporting.check_limit(text, integer) from public, anon, authenticated, service_role;
grant execute on function reporting.check_limit(text, integer) to authenticated;

create function public.report_events(
  from_time timestamptz,
  to_time timestamptz,
  "interval" text,
  filters jsonb default '{}'
)
returns table (bucket timestamptz, event_type text, event_name text, count bigint, uniques bigint)
language plpgsql
stable
set search_path = ''
as $$
#variable_conflict use_column
declare
  key text;
  type_filter text;
  name_filter text;
  grain text;
  first_day date;
  end_day date;
  raw1_end timestamptz;
  raw2_start timestamptz;
begin
  perform reporting.check_range('report_events', report_events.from_time, report_events.to_time);
  if report_events."interval" is null
     or report_events."interval" not in ('hour', 'day', 'week', 'month') then
    raise exception using errcode = 'invalid_parameter_value',
      message = format('report_events: interval must be one of hour, day, week, month, not %s',
        coalesce(quote_literal(report_events."interval"), 'null'));
  end if;
  if filters is null or jsonb_typeof(filters) <> 'object' then
    raise exception using errcode = 'invalid_parameter_value',
      message = 'report_events: filters must be a JSON object, e.g. {"event_type": "page"}';
  end if;
  for key in select jsonb_object_keys(filters) loop
    if key not in ('event_type', 'event_name') then
      raise exception using errcode = 'invalid_parameter_value',
        message = format('report_events: filters.%s is not a filter; the filters are event_type and event_name', key);
    end if;
    if jsonb_typeof(filters -> key) <> 'string' or filters ->> key !~ '\S' then
      raise exception using errcode = 'invalid_parameter_value',
        message = format('report_events: filters.%s must be a non-blank string, not %s', key, filters -> key);
    end if;
  end loop;
  type_filter := filters ->> 'event_type';
  name_filter := filters ->> 'event_name';

  -- Whole UTC days inside the range come per day (rollups where exact); the partial days at
  -- either edge, and everything for hourly buckets, from the raw rows.
  grain := case when report_events."interval" = 'hour' then 'hour' else 'day' end;
  first_day := (report_events.from_time at time zone 'UTC')::date;
  if first_day::timestamp at time zone 'UTC' < report_events.from_time then
    first_day := first_day + 1;
  end if;
  end_day := (report_events.to_time at time zone 'UTC')::date;
  if grain = 'hour' or first_day >= end_day then
    raw1_end := report_events.to_time;
    raw2_start := report_events.to_time;
    first_day := null;
  else
    raw1_end := first_day::timestamp at time zone 'UTC';
    raw2_start := end_day::timestamp at time zone 'UTC';
  end if;

  return query
  with parts as (
    select x.day::timestamp as slot, x.event_type, x.event_name, x.events as n, x.anonymous_ids as u
    from reporting.event_days(first_day, end_day) as x
    where first_day is not null
      and (type_filter is null or x.event_type = type_filter)
      and (name_filter is null or x.event_name = name_filter)
    union all
    select date_trunc(grain, e."timestamp" at time zone 'UTC'), e.event_type, e.event_name,
           count(*), count(distinct e.anonymous_id)
    from public.analytics_events as e
    where e.user_id = (select auth.uid())
      and ((e."timestamp" >= report_events.from_time and e."timestamp" < raw1_end)
        or (e."timestamp" >= raw2_start and e."timestamp" < report_events.to_time))
      and (type_filter is null or e.event_type = type_filter)
      and (name_filter is null or e.event_name = name_filter)
    group by 1, 2, 3
  )
  select date_trunc(report_events."interval", p.slot) at time zone 'UTC', p.event_type, p.event_name,
         sum(p.n)::bigint, sum(p.u)::bigint
  from parts as p
  group by 1, 2, 3
  order by 1, 2, 3;
end;
$$;
comment on function public.report_events(timestamptz, timestamptz, text, jsonb) is
  'Events of the caller in [from, to) per UTC bucket (hour, day, week, month), event type and name: count, and uniques (distinct anonymous ids per hour for hourly buckets, per day otherwise, summed over the bucket''s days). filters: {"event_type"?, "event_name"?}.';
revoke all on function public.report_events(timestamptz, timestamptz, text, jsonb) from public, anon, authenticated, service_role;
grant execute on function public.report_events(timestamptz, timestamptz, text, jsonb) to authenticated;

create function public.report_top_events(from_time timestamptz, to_time timestamptz, max_rows integer default 10)
returns table (event_type text, event_name text, count bigint)
language plpgsql
stable
set search_path = ''
as $$
#variable_conflict use_column
begin
  perform reporting.check_range('report_top_events', report_top_events.from_time, report_top_events.to_time);
  perform reporting.check_limit('report_top_events', report_top_events.max_rows);
  return query
  select r.event_type, r.event_name, sum(r.count)::bigint
  from public.report_events(report_top_events.from_time, report_top_events.to_time, 'month') as r
  group by r.event_type, r.event_name
  order by 3 desc, 1, 2
  limit report_top_events.max_rows;
end;
$$;
comment on function public.report_top_events(timestamptz, timestamptz, integer) is
  'The caller''s most frequent events (type and name) in [from, to), most first.';
revoke all on function public.report_top_events(timestamptz, timestamptz, integer) from public, anon, authenticated, service_role;
grant execute on function public.report_top_events(timestamptz, timestamptz, integer) to authenticated;

create function public.report_top_pages(from_time timestamptz, to_time timestamptz, max_rows integer default 10)
returns table (path text, views bigint, uniques bigint)
language plpgsql
stable
set search_path = ''
as $$
#variable_conflict use_column
begin
  perform reporting.check_range('report_top_pages', report_top_pages.from_time, report_top_pages.to_time);
  perform reporting.check_limit('report_top_pages', report_top_pages.max_rows);
  return query
  select e.properties ->> 'path', count(*), count(distinct e.anonymous_id)
  from public.analytics_events as e
  where e.user_id = (select auth.uid())
    and e."timestamp" >= report_top_pages.from_time and e."timestamp" < report_top_pages.to_time
    and e.event_type = 'page'
    and e.properties ->> 'path' is not null
  group by 1
  order by 2 desc, 1
  limit report_top_pages.max_rows;
end;
$$;
comment on function public.report_top_pages(timestamptz, timestamptz, integer) is
  'The caller''s most viewed pages (page events by properties.path) in [from, to): views and distinct anonymous ids, most first.';
revoke all on function public.report_top_pages(timestamptz, timestamptz, integer) from public, anon, authenticated, service_role;
grant execute on function public.report_top_pages(timestamptz, timestamptz, integer) to authenticated;
