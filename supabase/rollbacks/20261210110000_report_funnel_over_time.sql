-- Back to report_funnel(from_time, to_time) without interval or bucket, as
-- 20261205120200_campaign_reports.sql made it.

drop function public.report_funnel(timestamptz, timestamptz, text);

create function public.report_funnel(from_time timestamptz, to_time timestamptz)
returns table (stage text, stage_order integer, leads bigint, rate_from_previous numeric)
language plpgsql
stable
set search_path = ''
as $$
#variable_conflict use_column
begin
  perform reporting.check_range('report_funnel', report_funnel.from_time, report_funnel.to_time);
  return query
  with stages (stage, stage_order) as (
    values ('new', 1), ('contacted', 2), ('qualified', 3), ('converted', 4), ('lost', 5)
  ),
  cohort as (
    -- the leads created in the window: the funnel's entry
    select l.id from public.leads as l
    where l.user_id = (select auth.uid())
      and l.created_at >= report_funnel.from_time and l.created_at < report_funnel.to_time
  ),
  reached as (
    select 'new'::text as stage, c.id as lead_id from cohort as c
    union
    select h.to_status, h.lead_id
    from public.lead_status_history as h
    join cohort as c on c.id = h.lead_id
    where h.user_id = (select auth.uid()) and h.changed_at < report_funnel.to_time
  ),
  counted as (
    select s.stage, s.stage_order, count(r.lead_id) as leads
    from stages as s left join reached as r on r.stage = s.stage
    group by s.stage, s.stage_order
  )
  select c.stage, c.stage_order, c.leads,
         round(c.leads::numeric / nullif(
           case when c.stage = 'lost' then (select n.leads from counted as n where n.stage = 'new')
                else lag(c.leads) over (order by c.stage_order) end, 0), 4)
  from counted as c
  order by c.stage_order;
end;
$$;
comment on function public.report_funnel(timestamptz, timestamptz) is
  'The funnel of the leads the caller gained in [from, to): how many reached each stage (new, contacted, qualified, converted, per lead_status_history up to to; lost apart) and the rate from the previous stage (lost: over new).';
revoke all on function public.report_funnel(timestamptz, timestamptz) from public, anon, authenticated, service_role;
grant execute on function public.report_funnel(timestamptz, timestamptz) to authenticated;
