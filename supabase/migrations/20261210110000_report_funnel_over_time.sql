-- report_funnel over time (issue 11: "leads by status over time from lead_status_history").
-- report_funnel(from_time, to_time, interval default null): an optional bucket size (hour,
-- day, week, month, UTC, as report_events) and a last column, bucket.
--
-- The funnel is the same: the leads the caller gained in [from, to) (the cohort), each
-- reaching `new` when created and every other stage at its first lead_status_history row into
-- it before to. With an interval, a stage's reaches are counted in the bucket they happened
-- in, so each stage's leads over the buckets add up to the whole range's; rate_from_previous
-- is the funnel's rate as it stood at the bucket's end (leads that had reached the stage by
-- then over those that had reached the one before; lost over new), so the last bucket's rates
-- are the whole range's. Buckets where nothing happened are left out, as in report_events.
-- Without an interval the answer is one row per stage, as before, with bucket = from_time
-- (the whole range is its one bucket).
--
-- Callers keep working: report_funnel(from, to) (positional, or by name as PostgREST calls it)
-- means interval null; the columns they read keep their names, types, order and values, and
-- the new column comes last. The return type changes, so the function is dropped and made
-- again (nothing in the database depends on it), with its grants.

drop function public.report_funnel(timestamptz, timestamptz);

create function public.report_funnel(
  from_time timestamptz,
  to_time timestamptz,
  "interval" text default null
)
returns table (stage text, stage_order integer, leads bigint, rate_from_previous numeric, bucket timestamptz)
language plpgsql
stable
set search_path = ''
as $$
#variable_conflict use_column
declare
  uid uuid := (select auth.uid());
begin
  perform reporting.check_range('report_funnel', report_funnel.from_time, report_funnel.to_time);
  if report_funnel."interval" not in ('hour', 'day', 'week', 'month') then
    raise exception using errcode = 'invalid_parameter_value',
      message = format('report_funnel: interval must be one of hour, day, week, month (or null for the whole range), not %s',
        quote_literal(report_funnel."interval"));
  end if;
  return query
  with stages (stage, stage_order) as (
    values ('new', 1), ('contacted', 2), ('qualified', 3), ('converted', 4), ('lost', 5)
  ),
  cohort as (
    -- the leads gained in the range: the funnel's entry
    select l.id, l.created_at from public.leads as l
    where l.user_id = uid
      and l.created_at >= report_funnel.from_time and l.created_at < report_funnel.to_time
  ),
  reaches as (
    -- when each lead first reached each stage
    select 'new'::text as stage, c.id as lead_id, c.created_at as at from cohort as c
    union all
    select h.to_status, h.lead_id, min(h.changed_at)
    from public.lead_status_history as h
    join cohort as c on c.id = h.lead_id
    where h.user_id = uid and h.changed_at < report_funnel.to_time and h.to_status <> 'new'
    group by h.to_status, h.lead_id
  ),
  counted as (
    select case when report_funnel."interval" is null then report_funnel.from_time
                else date_trunc(report_funnel."interval", r.at at time zone 'UTC') at time zone 'UTC' end as bucket,
           r.stage, count(*) as leads
    from reaches as r
    group by 1, 2
  ),
  buckets as (
    select report_funnel.from_time as bucket where report_funnel."interval" is null
    union
    select c.bucket from counted as c
  ),
  grid as (
    select b.bucket, s.stage, s.stage_order, coalesce(c.leads, 0) as leads,
           sum(coalesce(c.leads, 0)) over (partition by s.stage order by b.bucket) as reached
    from buckets as b
    cross join stages as s
    left join counted as c on c.bucket = b.bucket and c.stage = s.stage
  )
  select g.stage, g.stage_order, g.leads,
         round(g.reached / nullif(
           case when g.stage = 'lost'
                then first_value(g.reached) over (partition by g.bucket order by g.stage_order)
                else lag(g.reached) over (partition by g.bucket order by g.stage_order) end, 0), 4),
         g.bucket
  from grid as g
  order by g.bucket, g.stage_order;
end;
$$;
comment on function public.report_funnel(timestamptz, timestamptz, text) is
  'The funnel of the leads the caller gained in [from, to): how many reached each stage (new at creation; contacted, qualified, converted, lost at their first lead_status_history row before to) and the rate from the previous stage (lost: over new). interval (hour, day, week, month; UTC): per bucket, the stage''s reaches in it and the rates as they stood at its end; null: one row per stage, bucket = from_time.';
revoke all on function public.report_funnel(timestamptz, timestamptz, text) from public, anon, authenticated, service_role;
grant execute on function public.report_funnel(timestamptz, timestamptz, text) to authenticated;
