-- Back to reporting.event_days as 20261205120100_event_reports made it.

create or replace function reporting.event_days(from_day date, to_day date)
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
