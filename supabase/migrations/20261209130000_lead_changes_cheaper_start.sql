-- Starting a lead insert's executions (beacon-lead-changes) costs less per execution, so the
-- inbox keeps up with bursts of inserts (workflow_start_p95_s, docs/performance.md):
--   - matching gives each lead the numbers of the distinct conditions it meets and keeps a
--     workflow whose condition's number is among them, instead of joining the met conditions
--     back by their jsonb (a sort of 20 rows per lead keyed on jsonb was a third of the
--     matching, and a join whose size the planner misjudges by 60×); a deleted lead is found
--     by a probe of the primary key, not by hashing every lead of the table;
--   - each new run's foreign key check probes the index even if first planned while
--     workflow_executions was nearly empty (below, at start_workflow_executions);
--   - the executions Beacon starts itself skip set_execution_owner: their user_id is read
--     from the workflow already, and the foreign key on (workflow_id, user_id) with the
--     insert policy still holds every other insert to its owner's workflows.

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
      with recorded as materialized (
        select c.id as change_id, e.position, c.user_id, l as lead
        from private.lead_changes as c
        cross join lateral jsonb_array_elements(c.leads) with ordinality as e (lead, position)
        cross join lateral jsonb_populate_record(null::public.leads, e.lead) as l
        where c.id = any (change_ids)
          and c.chain = recorded_chain
          and l.user_id = c.user_id
          -- A lead deleted since starts nothing. A probe of the primary key per lead: as a
          -- join, the planner (which expects 100 leads per inbox row) may hash every lead.
          and (select true from public.leads as still where still.id = l.id)
      ),
      triggers as materialized (
        -- condition: a number per distinct (owner, conditions).
        select
          t.*,
          case when t.conditions is not null then dense_rank() over (order by t.user_id, t.conditions) end
            as condition
        from private.workflow_triggers as t
        where t.user_id in (select r.user_id from recorded as r)
          and t.type in ('lead_created', 'tag_added', 'lead_score_reached')
      ),
      conditions as materialized (
        select distinct on (t.condition) t.user_id, t.condition, t.conditions
        from triggers as t
        where t.condition is not null
      ),
      -- Each lead checks each distinct condition of its owner's workflows once (20 workflows
      -- sharing a condition check it once), and carries the numbers of those it meets: the
      -- workflows then need no join back, whose size the planner cannot foresee.
      checked as materialized (
        select
          r.*,
          array(
            select c.condition
            from conditions as c
            where c.user_id = r.user_id
              and private.lead_matches(r.lead, c.conditions)
          ) as met
        from recorded as r
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
      from checked as r
      join triggers as t on t.user_id = r.user_id
      where case t.type
          when 'lead_created' then true
          when 'tag_added' then t.tag = any ((r.lead).tags) or (t.tag is null and cardinality((r.lead).tags) > 0)
          else (r.lead).score >= t.score
        end
        and (t.condition is null or t.condition = any (r.met))
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
-- The foreign key check of each new workflow_runs row (its execution) is planned once per
-- session and kept. Planned while workflow_executions was nearly empty (a new database, or
-- a beacon-lead-changes run whose first batch was one lead), it scanned the table, and the
-- run's next batch of 20,000 executions scanned it 20,000 times: a batch of 1,000 leads took
-- 10.4 s of CPU instead of 2.0 s, and beacon-lead-changes fell a minute behind. Only this
-- function inserts runs, so its statements, planned without sequential scans, make that
-- check an index probe in every session.
set enable_seqscan = off
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
  -- Every caller passes each workflow's own user_id: set_execution_owner has nothing to do.
  perform pg_catalog.set_config('beacon.execution_owners_set', 'on', true);
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
  perform pg_catalog.set_config('beacon.execution_owners_set', '', true);
end;
$$;

drop trigger set_execution_owner on public.workflow_executions;
create trigger set_execution_owner
before insert or update of workflow_id, user_id on public.workflow_executions
for each row
when (current_setting('beacon.execution_owners_set', true) is distinct from 'on')
execute function private.set_execution_owner();
