-- Rollback of 20261210130100_workflow_conditions_compiled: the worker's conditions evaluated by
-- their own SQL again (as 20261206130000_workflow_conditions_hold left it), and the comments as
-- they were.
create or replace function private.workflow_conditions_hold(lead_ids uuid[], conditions jsonb)
returns setof uuid
language sql
stable
set search_path = ''
as $$
  with c as materialized (
    select
      array(select jsonb_array_elements_text(conditions -> 'statuses')) as statuses,
      case when conditions ? 'min_score' then private.jsonb_integer(conditions -> 'min_score') end as min_score,
      case when conditions ? 'max_score' then private.jsonb_integer(conditions -> 'max_score') end as max_score,
      case when conditions #> '{tags,any}' is not null
        then array(select jsonb_array_elements_text(conditions #> '{tags,any}')) end as tags_any,
      case when conditions #> '{tags,all}' is not null
        then array(select jsonb_array_elements_text(conditions #> '{tags,all}')) end as tags_all,
      case when conditions #> '{tags,none}' is not null
        then array(select jsonb_array_elements_text(conditions #> '{tags,none}')) end as tags_none
  )
  select l.id
  from public.leads as l
  cross join c
  where l.id = any (lead_ids)
    and (conditions is null or (
      (not conditions ? 'statuses' or l.status = any (c.statuses))
      and (not conditions ? 'min_score' or l.score >= c.min_score)
      and (not conditions ? 'max_score' or l.score <= c.max_score)
      and (c.tags_any is null or l.tags && c.tags_any)
      and (c.tags_all is null or l.tags @> c.tags_all)
      and (c.tags_none is null or not l.tags && c.tags_none)
      and (not conditions ? 'custom_fields' or not exists (
        select
        from jsonb_array_elements(conditions -> 'custom_fields') as f
        where not private.value_matches(l.custom_fields -> (f ->> 'key'), f ->> 'op', f -> 'value')))
    ))
$$;
comment on function private.workflow_conditions_hold(uuid[], jsonb) is
  'Which of these leads meet (valid) workflow conditions, as private.lead_matches decides for one lead; null conditions: all of them. Callers pass leads they loaded by owner.';

comment on function private.lead_conditions_sql(jsonb, text, text) is
  'The SQL boolean expression of (valid) lead conditions over the lead row alias `lead`, whose owner is the SQL expression `owner` (a literal lets the planner hash the activity sub-selects once). Values are quoted literals. The one compiler of segments and recipient selectors; agrees with lead_matches.';

comment on function private.lead_matches(public.leads, jsonb) is
  'Whether a lead meets (valid) lead conditions, activity included; null conditions: always. One row at a time; lead_conditions_sql is the set-based form and agrees with it.';

drop function private.leads_meeting(uuid, jsonb, uuid[]);
