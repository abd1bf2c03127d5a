-- A batch's runs of one lead in one write, when nothing can tell them apart.
--
-- The set-based worker ran a lead's runs in lanes: the first run of every lead, then the
-- second, each lane grouped by workflow and step, each group one update of its leads. Twenty
-- lead_created workflows of lead steps meant twenty updates of each lead per batch: twenty
-- new row versions with ten index entries each (the score and updated_at indexes make none of
-- them HOT), twenty rounds of row and statement triggers. Profiled (2,000 executions, 100
-- leads): those twenty updates were 80 % of the batch.
--
-- Now a lead whose runs in the batch are all lead steps to their end (add_tag, remove_tag,
-- set_field, adjust_score with valid points), of an owner with no workflow that a lead update
-- starts (lead_updated, lead_status_changed, lead_score_reached, tag_added), is written once:
-- its steps folded in lane order, then one update. Nothing observes the runs apart there: no
-- watcher fires per update, and the step statuses and points, the workflow ledger rows and the
-- final lead are those of the runs one after another. The fold's profile points count first,
-- then its score steps in order, each clamped (private.workflow_run_points, as for one run): so
-- the score a step result records after a score step already counts the profile points of the
-- lead's later runs, and points differ within a step's of the score's bound. Every other lead,
-- and every owner with a watcher, keeps the lanes and their per-run firing.

-- An adjust_score step's points when they are valid, else null: what private.workflow_step_points
-- checks (and names when it fails), for the fold, which sends an invalid step to the lanes
-- instead of failing.
create function private.workflow_step_asked(step jsonb)
returns integer
language sql
immutable
set search_path = ''
as $$
  select p from (select private.jsonb_integer(step -> 'points') as p) as x where p between -1000 and 1000
$$;
comment on function private.workflow_step_asked(jsonb) is
  'An adjust_score step''s points if they are a whole number from -1000 to 1000, else null.';
revoke all on function private.workflow_step_asked(jsonb) from public, anon, authenticated, service_role;

create or replace function private.workflow_step_points(step jsonb)
returns integer
language plpgsql
immutable
set search_path = ''
as $$
declare
  asked constant integer := private.workflow_step_asked(step);
begin
  if asked is null then
    raise exception 'points: expected a whole number from -1000 to 1000, not %',
      coalesce(left((step -> 'points')::text, 100), '(missing)');
  end if;
  return asked;
end;
$$;

create function private.run_workflow_lead_folds()
returns integer
language plpgsql
set search_path = ''
as $$
declare
  folded integer;
begin
  perform 'PRAGMA:TABLE: pg_temp.workflow_batch (like private.workflow_batch_entry)';
  -- No workflow starts from these updates (the owners have none that a lead update starts),
  -- so no chain to carry; the score written is Beacon's own and the lead's trigger still
  -- ledgers the profile points, as for one run's lead steps.
  perform set_config('beacon.workflow_chain', '', true);
  perform set_config('beacon.workflow_id', '', true);
  perform set_config('beacon.execution_id', '', true);
  perform set_config('beacon.change_reason', 'workflow', true);
  perform set_config('beacon.trusted_score_write', 'profile', true);

  with recursive
  -- Whether a run can fold depends on its workflow's steps from its next step on, and on its
  -- owner: checked once per workflow, step and owner.
  kinds as (
    select distinct on (b.workflow_id, b.step) b.workflow_id, b.step, b.user_id, b.steps
    from pg_temp.workflow_batch as b
    where b.state = 'run' and not b.skip_next
  ),
  foldable as (
    select k.workflow_id, k.step
    from kinds as k
    where not exists (
        select
        from jsonb_array_elements(k.steps) with ordinality as s (definition, n)
        where s.n > k.step
          and (s.definition ->> 'type' not in ('add_tag', 'remove_tag', 'set_field', 'adjust_score')
               or (s.definition ->> 'type' = 'adjust_score' and private.workflow_step_asked(s.definition) is null)))
      and not exists (
        select
        from private.workflow_triggers as t
        where t.user_id = k.user_id
          and t.type in ('lead_updated', 'lead_status_changed', 'lead_score_reached', 'tag_added'))
  ),
  candidates as (
    select b.execution_id, b.lead_id,
           b.state = 'run' and not b.skip_next
           and exists (select from foldable as f where f.workflow_id = b.workflow_id and f.step = b.step) as foldable
    from pg_temp.workflow_batch as b
  ),
  -- A lead folds only whole: a run that cannot fold keeps every run of its lead in the lanes,
  -- in order.
  runs as materialized (
    select b.execution_id, b.lead_id, b.user_id, b.lane, b.workflow_id, b.workflow_name, b.step, b.steps
    from pg_temp.workflow_batch as b
    where b.lead_id in (
      select c.lead_id from candidates as c group by c.lead_id having bool_and(c.foldable))
  ),
  -- Every step still to run of a lead's runs, in the order the lanes would run them: k.
  steps as materialized (
    select
      r.execution_id,
      r.lead_id,
      r.user_id,
      r.workflow_id,
      r.workflow_name,
      row_number() over (partition by r.lead_id order by r.lane, s.n)::integer as k,
      (s.n - 1)::integer as step_index,
      s.definition,
      -- Not null for a score step: checked by foldable above.
      case when s.definition ->> 'type' = 'adjust_score' then private.workflow_step_asked(s.definition) end as asked
    from runs as r
    cross join lateral jsonb_array_elements(r.steps) with ordinality as s (definition, n)
    where s.n > r.step
  ),
  -- Per lead, its tag and field steps in order (score steps change neither) and its score
  -- steps' points in order.
  sequences as materialized (
    select s.lead_id,
           count(*) filter (where s.asked is null)::integer as profile_steps,
           coalesce(jsonb_agg(s.definition order by s.k) filter (where s.asked is null), '[]') as definitions,
           coalesce(array_agg(s.k order by s.k) filter (where s.asked is null), '{}') as places,
           coalesce(array_agg(s.asked order by s.k) filter (where s.asked is not null), '{}') as asks
    from steps as s
    group by s.lead_id
  ),
  -- Each lead's tags and fields after each of its tag and field steps (the n-th of them is the
  -- lead's step places[n]), and whether the step changed them.
  walked (lead_id, n, k, tags, fields, changed) as (
    select l.id, 0, 0, l.tags, l.custom_fields, false
    from sequences as q
    join public.leads as l on l.id = q.lead_id
    union all
    select w.lead_id, w.n + 1, q.places[w.n + 1], a.tags, a.fields,
           (a.tags, a.fields) is distinct from (w.tags, w.fields)
    from walked as w
    join sequences as q on q.lead_id = w.lead_id and w.n < q.profile_steps
    cross join lateral (
      -- offset 0: computed once, not once more for the comparison.
      select private.workflow_step_tags(w.tags, q.definitions -> w.n) as tags,
             private.workflow_step_fields(w.fields, q.definitions -> w.n) as fields
      offset 0
    ) as a
  ),
  -- Each lead's score steps, j-th of the lead, as private.workflow_run_points numbers them.
  scored as materialized (
    select s.lead_id, s.k, row_number() over (partition by s.lead_id order by s.k)::integer as j
    from steps as s
    where s.asked is not null
  ),
  final as (
    select l.id as lead_id, l.score, w.tags, w.fields, t.asks,
           private.lead_profile_points(
             jsonb_populate_record(l, jsonb_build_object('tags', w.tags, 'custom_fields', w.fields)))
           - private.lead_profile_points(l) as profile_change
    from sequences as t
    join public.leads as l on l.id = t.lead_id
    join walked as w on w.lead_id = t.lead_id and w.n = t.profile_steps
    -- One run at a time, the tags' check (leads_tags_check: at most 100, none null) holds
    -- after every run; a lead whose tags break it at any step goes to the lanes, which fail
    -- the run that breaks it.
    where t.lead_id not in (
      select x.lead_id
      from walked as x
      where cardinality(x.tags) > 100 or array_position(x.tags, null) is not null)
  ),
  settled as materialized (
    select f.*, p.points, p.scores,
           coalesce(p.scores[cardinality(f.asks)], least(greatest(f.score + f.profile_change, -100000), 100000))
             as new_score
    from final as f
    cross join lateral private.workflow_run_points(f.score, f.profile_change, f.asks) as p
  ),
  ledgered as (
    insert into public.lead_score_ledger (user_id, lead_id, points, source, reason, workflow_id, execution_id)
    select s.user_id, s.lead_id, t.points[c.j], 'workflow', format('%s: step %s', s.workflow_name, s.step_index),
           s.workflow_id, s.execution_id
    from scored as c
    join steps as s on s.lead_id = c.lead_id and s.k = c.k
    join settled as t on t.lead_id = c.lead_id
    where t.points[c.j] <> 0
  ),
  written as (
    update public.leads as l
    set tags = s.tags,
        custom_fields = s.fields,
        score = s.new_score - s.profile_change
    from settled as s
    where l.id = s.lead_id
      and ((l.tags, l.custom_fields) is distinct from (s.tags, s.fields) or l.score <> s.new_score)
  ),
  -- Each step's result, as private.run_workflow_profile_steps writes them.
  results as (
    select s.execution_id,
           jsonb_agg(
             jsonb_build_object('step', s.step_index, 'type', s.definition ->> 'type', 'at', now(),
               'status', case when w.changed then 'done' else 'unchanged' end)
             || case
                  when c.j is null then '{}'::jsonb
                  when t.points[c.j] = 0 then '{"status": "unchanged"}'::jsonb
                  else jsonb_build_object('status', 'done', 'points', t.points[c.j], 'score', t.scores[c.j])
                end
             order by s.step_index) as results
    from steps as s
    left join walked as w on w.lead_id = s.lead_id and w.k = s.k and w.n > 0
    join settled as t on t.lead_id = s.lead_id
    left join scored as c on c.lead_id = s.lead_id and c.k = s.k
    group by s.execution_id
  )
  update pg_temp.workflow_batch as b
  set results = b.results || r.results,
      step = jsonb_array_length(b.steps),
      state = 'done'
  from results as r
  where b.execution_id = r.execution_id;
  get diagnostics folded = row_count;

  perform set_config('beacon.change_reason', '', true);
  perform set_config('beacon.trusted_score_write', '', true);
  return folded;
end;
$$;
comment on function private.run_workflow_lead_folds() is
  'Runs, in one write per lead, every run of pg_temp.workflow_batch whose lead''s runs are all lead steps (add_tag, remove_tag, set_field, adjust_score) to their end, for owners with no workflow started by lead updates; same step statuses and points, ledger rows and final lead as the runs one after another (the fold''s profile points first, then its score steps in order, clamped, as private.workflow_run_points). Returns the runs it ran.';
revoke all on function private.run_workflow_lead_folds() from public, anon, authenticated, service_role;

create or replace function private.run_workflow_steps(runs private.workflow_runs[])
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
declare
  seqscan text;
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
    -- Leads whose runs here are all lead steps, of owners that no lead update starts a
    -- workflow for: every run of such a lead in one write (private.run_workflow_lead_folds);
    -- the lanes below run the rest. (A lead whose tags would break their check does not
    -- fold; should a fold fail all the same, no group is named and the batch runs one by one.)
    perform private.run_workflow_lead_folds();
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

  -- The batch's executions and runs by primary key: on a small table the planner prefers
  -- reading all of it (a seq scan of 50,000 executions to update 2,000 took 114 of the
  -- update's 170 ms; by key, 69 ms in all).
  seqscan := current_setting('enable_seqscan');
  perform set_config('enable_seqscan', 'off', true);
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
  perform set_config('enable_seqscan', seqscan, true);
  drop table pg_temp.workflow_batch;
end;
$function$;
