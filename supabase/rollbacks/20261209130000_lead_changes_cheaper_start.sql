-- Rollback of 20261209130000_lead_changes_cheaper_start: matching joins met conditions back by
-- their jsonb again, and every execution insert runs set_execution_owner (the definitions of
-- 20261206120000_lead_changes and 20261125141300_workflow_runs).
create or replace function private.start_lead_change_workflows(change_ids bigint[])
returns void
language plpgsql
set search_path = ''
as $$
declare
  previous_chain constant text := current_setting('beacon.workflow_chain', true);
  recorded_chain uuid[];
begin
  for recorded_chain in
    select distinct c.chain from private.lead_changes as c where c.id = any (change_ids)
  loop
    perform pg_catalog.set_config('beacon.workflow_chain', recorded_chain::text, true);
    perform private.start_workflow_executions(
      array_agg(m.workflow_id order by m.change_id, m.position, m.workflow_id),
      array_agg(m.user_id order by m.change_id, m.position, m.workflow_id),
      array_agg(m.lead_id order by m.change_id, m.position, m.workflow_id),
      array_agg(m.data order by m.change_id, m.position, m.workflow_id))
    from (
      -- Each lead's conditions are checked once per distinct condition of its owner's
      -- workflows, not once per workflow: 20 workflows sharing a condition check it once.
      with recorded as materialized (
        select c.id as change_id, e.position, c.user_id, l as lead
        from private.lead_changes as c
        cross join lateral jsonb_array_elements(c.leads) with ordinality as e (lead, position)
        cross join lateral jsonb_populate_record(null::public.leads, e.lead) as l
        where c.id = any (change_ids)
          and c.chain = recorded_chain
          and l.user_id = c.user_id
          and exists (select from public.leads as still where still.id = l.id)
      ),
      triggers as materialized (
        select t.*
        from private.workflow_triggers as t
        where t.user_id in (select r.user_id from recorded as r)
          and t.type in ('lead_created', 'tag_added', 'lead_score_reached')
      ),
      met as materialized (
        select r.change_id, r.position, d.conditions
        from recorded as r
        join (select distinct t.user_id, t.conditions from triggers as t where t.conditions is not null) as d
          on d.user_id = r.user_id
        where private.lead_matches(r.lead, d.conditions)
      )
      select
        r.change_id,
        r.position,
        t.workflow_id,
        r.user_id,
        (r.lead).id as lead_id,
        jsonb_build_object('trigger', t.type, 'lead_id', (r.lead).id) || case t.type
          when 'tag_added' then jsonb_build_object('tags', (r.lead).tags)
          when 'lead_score_reached' then jsonb_build_object('score', (r.lead).score, 'threshold', t.score)
          else '{}'
        end as data
      from recorded as r
      join triggers as t on t.user_id = r.user_id
      left join met as k
        on k.change_id = r.change_id and k.position = r.position and k.conditions = t.conditions
      where case t.type
          when 'lead_created' then true
          when 'tag_added' then t.tag = any ((r.lead).tags) or (t.tag is null and cardinality((r.lead).tags) > 0)
          else (r.lead).score >= t.score
        end
        and (t.conditions is null or k.change_id is not null)
    ) as m;
  end loop;
  perform pg_catalog.set_config('beacon.workflow_chain', coalesce(previous_chain, ''), true);
  delete from private.lead_changes as c where c.id = any (change_ids);
end;
$$;

create or replace function private.start_workflow_executions(
  workflow_ids uuid[],
  user_ids uuid[],
  lead_ids uuid[],
  trigger_data jsonb[]
)
returns setof uuid
language plpgsql
set search_path = ''
as $$
declare
  chain constant uuid[] := private.current_workflow_chain();
  too_deep constant boolean := cardinality(chain) >= private.max_workflow_depth();
  chain_names text;
begin
  if coalesce(cardinality(workflow_ids), 0) = 0 then
    return;
  end if;
  if too_deep then
    select string_agg(coalesce(w.name, c.id::text), ' -> ' order by c.n)
    into chain_names
    from unnest(chain) with ordinality as c (id, n)
    left join public.workflows as w on w.id = c.id;
  end if;
  return query
  with matched as materialized (
    select
      gen_random_uuid() as execution_id,
      m.workflow_id,
      m.user_id,
      m.lead_id,
      m.data || case when cardinality(chain) > 0 then jsonb_build_object('triggered_by', chain) else '{}' end
        as data
    from unnest(workflow_ids, user_ids, lead_ids, trigger_data) as m (workflow_id, user_id, lead_id, data)
    where m.workflow_id <> all (chain)
  ),
  executions as (
    insert into public.workflow_executions (id, workflow_id, user_id, trigger_data, status, error_message, completed_at)
    select
      m.execution_id,
      m.workflow_id,
      m.user_id,
      m.data,
      case when too_deep then 'failed' else 'running' end,
      case when too_deep then format('not run: workflows started by workflows stop at a depth of %s (%s)',
        private.max_workflow_depth(), chain_names) end,
      case when too_deep then now() end
    from matched as m
  ),
  runs as (
    insert into private.workflow_runs (execution_id, workflow_id, user_id, lead_id, chain)
    select m.execution_id, m.workflow_id, m.user_id, m.lead_id, chain
    from matched as m
    where not too_deep
    returning execution_id
  )
  select r.execution_id from runs as r;
end;
$$;

drop trigger set_execution_owner on public.workflow_executions;
create trigger set_execution_owner
before insert or update of workflow_id, user_id on public.workflow_executions
for each row execute function private.set_execution_owner();
