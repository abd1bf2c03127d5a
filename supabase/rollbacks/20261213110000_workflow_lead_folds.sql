-- Rollback of 20261213110000_workflow_lead_folds: run_workflow_steps runs every lead in the
-- lanes again (as 20261212110000_workflow_lead_runs left it); run_workflow_lead_folds goes.

create or replace function private.run_workflow_steps(runs private.workflow_runs[])
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
declare
  lanes integer;
  heads uuid[];
  failing uuid[];
  grp record;
begin
  if cardinality(runs) = 0 then
    return;
  end if;
  perform 'PRAGMA:TABLE: pg_temp.workflow_batch (like private.workflow_batch_entry)';
  create temp table workflow_batch (like private.workflow_batch_entry, primary key (execution_id)) on commit drop;
  insert into pg_temp.workflow_batch (
    execution_id, lane, workflow_id, workflow_name, user_id, lead_id, chain, steps, step, state, skip_next, results
  )
  select r.execution_id, row_number() over (partition by r.lead_id order by r.ordinality),
         r.workflow_id, w.name, r.user_id, r.lead_id, r.chain, w.action_config -> 'steps', r.next_step, 'run', false, '[]'
  from unnest(runs) with ordinality as r
  join public.workflows as w on w.id = r.workflow_id and w.user_id = r.user_id;
  analyze pg_temp.workflow_batch;
  select max(b.lane) into lanes from pg_temp.workflow_batch as b;

  begin
    for lane_now in 1..coalesce(lanes, 0) loop
      loop
        update pg_temp.workflow_batch as b
        set state = 'done'
        where b.lane = lane_now and b.state = 'run' and b.step >= jsonb_array_length(b.steps);
        heads := array(
          select b.execution_id from pg_temp.workflow_batch as b where b.lane = lane_now and b.state = 'run');
        exit when cardinality(heads) = 0;
        -- The step after a condition that did not hold ("otherwise": "skip"): its round is the skip.
        with skipped as (
          update pg_temp.workflow_batch as b
          set results = b.results || jsonb_build_object('step', b.step, 'type', b.steps -> b.step ->> 'type',
                'status', 'skipped', 'at', now(), 'reason', 'the condition before it did not hold'),
              skip_next = false,
              step = b.step + 1
          where b.execution_id = any (heads) and b.skip_next
          returning b.execution_id
        )
        select array(select h from unnest(heads) as h except select s.execution_id from skipped as s) into heads;
        for grp in
          select b.workflow_id, b.workflow_name, b.chain, b.steps, b.step, b.steps -> b.step as definition,
                 array_agg(b.execution_id) as members
          from pg_temp.workflow_batch as b
          where b.execution_id = any (heads)
          group by b.workflow_id, b.workflow_name, b.chain, b.steps, b.step
        loop
          failing := grp.members;
          if grp.definition ->> 'type' in ('add_tag', 'remove_tag', 'set_field', 'adjust_score') then
            perform private.run_workflow_profile_steps(grp.workflow_id, grp.chain, grp.steps, grp.step, grp.members);
          else
            perform private.run_workflow_step(grp.workflow_id, grp.chain, grp.definition, grp.members);
          end if;
        end loop;
        failing := null;
      end loop;
    end loop;
  exception when others then
    raise exception 'a workflow step failed for a group of executions'
      using errcode = 'BW001', detail = coalesce(failing, '{}')::text;
  end;

  update public.workflow_executions as e
  set step_results = e.step_results || b.results,
      status = case when b.state = 'waiting' then e.status else 'completed' end,
      completed_at = case when b.state = 'waiting' then null else greatest(now(), e.started_at) end
  from pg_temp.workflow_batch as b
  where e.id = b.execution_id;
  update private.workflow_runs as r
  set next_step = b.step,
      run_after = b.park_until,
      waiting_for = b.hook_id
  from pg_temp.workflow_batch as b
  where r.execution_id = b.execution_id and b.state = 'waiting';
  delete from private.workflow_runs as r
  using pg_temp.workflow_batch as b
  where r.execution_id = b.execution_id and b.state = 'done';
  drop table pg_temp.workflow_batch;
end;
$function$;

drop function private.run_workflow_lead_folds();
create or replace function private.workflow_step_points(step jsonb)
returns integer
language plpgsql
immutable
set search_path = ''
as $$
declare
  asked constant integer := private.jsonb_integer(step -> 'points');
begin
  if asked is null or asked not between -1000 and 1000 then
    raise exception 'points: expected a whole number from -1000 to 1000, not %',
      coalesce(left((step -> 'points')::text, 100), '(missing)');
  end if;
  return asked;
end;
$$;
drop function private.workflow_step_asked(jsonb);
