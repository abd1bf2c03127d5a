-- The workflow worker, set-based (issue 13): instead of interpreting one execution at a time,
-- a batch runs in lanes and rounds. Each lead's executions are put in lanes in the order they
-- were claimed (longest-waiting first, the order one by one ran them): lane 1 holds every lead's first execution, lane 2 its second, and
-- so on. A lane runs in rounds: each round groups the lane's executions by their current
-- workflow step and runs each group with one statement per step kind, until every execution of
-- the lane has parked, stopped or finished; then the next lane. Executions on one lead therefore
-- run in the same order and see the same lead as one by one, while a round touches many leads.
--
-- A group is one step of one workflow (with one chain): the lead triggers read the running
-- workflow and its chain from settings that hold for a whole statement (loop protection), and all
-- members share the step's config. If a group's statement fails, the whole set-based attempt is
-- undone and run again without that group, whose executions then run one by one through
-- private.run_workflow_execution: each fails alone with its step's readable error and its
-- earlier steps undone, exactly as before.

-- A batch's executions while it runs: the columns of the temporary table pg_temp.workflow_batch
-- (created per batch by private.run_workflow_steps; named here so that both functions and
-- plpgsql_check, through its table pragma, know its shape).
create type private.workflow_batch_entry as (
  execution_id uuid,
  lane integer,
  workflow_id uuid,
  workflow_name text,
  user_id uuid,
  lead_id uuid,
  chain uuid[],
  steps jsonb,
  step integer,
  state text,
  skip_next boolean,
  results jsonb,
  park_until timestamptz,
  hook_id uuid,
  points integer
);
comment on type private.workflow_batch_entry is
  'One execution of a running set-based worker batch: its lane (the how-manyth on its lead), workflow, lead, next step, state (run, waiting, done), whether to skip the next step, results so far, where it parks, and the points of its adjust_score step.';

-- One step of one workflow for the executions `members` (each on a different lead, loaded and
-- locked by owner): changes their leads, appends each one's step result to
-- pg_temp.workflow_batch and moves it on (or parks it: wait, webhook; or stops it: condition).
create function private.run_workflow_step(
  workflow uuid,
  step_chain uuid[],
  definition jsonb,
  members uuid[]
)
returns void
language plpgsql
set search_path = ''
as $$
declare
  kind constant text := definition ->> 'type';
  owner uuid;
  group_leads uuid[];
  changed uuid[];
  target text;
  step_points integer;
  until_at timestamptz;
  email_id uuid;
  content_row public.content;
begin
  perform 'PRAGMA:TABLE: pg_temp.workflow_batch (like private.workflow_batch_entry)';
  select (array_agg(b.user_id))[1], array_agg(b.lead_id)
  into owner, group_leads
  from pg_temp.workflow_batch as b
  where b.execution_id = any (members);
  perform set_config('beacon.workflow_chain', (step_chain || workflow)::text, true);
  perform set_config('beacon.workflow_id', workflow::text, true);
  perform set_config('beacon.execution_id', '', true);
  perform set_config('beacon.change_reason', 'workflow', true);

  case kind
  when 'add_tag', 'remove_tag' then
    -- Unchanged where the lead already has (add) or lacks (remove) the tag.
    with u as (
      update public.leads as l
      set tags = case when kind = 'add_tag' then l.tags || (definition ->> 'tag')
                      else array_remove(l.tags, definition ->> 'tag') end
      from pg_temp.workflow_batch as b
      where b.execution_id = any (members)
        and l.id = b.lead_id
        and ((definition ->> 'tag') = any (l.tags)) is distinct from (kind = 'add_tag')
      returning l.id
    )
    select array_agg(u.id) into changed from u;
  when 'set_field' then
    with u as (
      update public.leads as l
      set custom_fields = case when definition -> 'value' = 'null' then l.custom_fields - (definition ->> 'key')
                               else l.custom_fields || jsonb_build_object(definition ->> 'key', definition -> 'value') end
      from pg_temp.workflow_batch as b
      where b.execution_id = any (members)
        and l.id = b.lead_id
        and l.custom_fields -> (definition ->> 'key') is distinct from nullif(definition -> 'value', 'null')
      returning l.id
    )
    select array_agg(u.id) into changed from u;
  when 'set_status' then
    target := definition ->> 'status';
    perform set_config('beacon.lead_executions', (
      select jsonb_object_agg(b.lead_id, b.execution_id)
      from pg_temp.workflow_batch as b
      where b.execution_id = any (members))::text, true);
    with before_step as (
      select
        b.execution_id,
        b.lead_id,
        l.status,
        case
          when l.status = target then 'unchanged'
          when l.status in ('converted', 'lost')
            or (l.status = 'contacted' and target not in ('converted', 'lost')) then 'skipped'
          else 'changed'
        end as outcome
      from pg_temp.workflow_batch as b
      join public.leads as l on l.id = b.lead_id
      where b.execution_id = any (members)
    ),
    u as (
      update public.leads as l
      set status = target
      from before_step as s
      where l.id = s.lead_id
        and s.outcome = 'changed'
    )
    update pg_temp.workflow_batch as b
    set results = b.results || (
          jsonb_build_object('step', b.step, 'type', kind, 'status', 'done', 'at', now())
          || case s.outcome
               when 'unchanged' then '{"status": "unchanged"}'::jsonb
               when 'skipped' then jsonb_build_object('status', 'skipped',
                 'reason', format('workflows never move a lead back from %s', s.status))
               else jsonb_build_object('to', target)
             end),
        step = b.step + 1
    from before_step as s
    where b.execution_id = s.execution_id;
  when 'adjust_score' then
    -- Within the score's bounds (leads_score_check), ledgered as this workflow's doing.
    step_points := private.jsonb_integer(definition -> 'points');
    if step_points is null or step_points not between -1000 and 1000 then
      raise exception 'points: expected a whole number from -1000 to 1000, not %',
        coalesce(left((definition -> 'points')::text, 100), '(missing)');
    end if;
    update pg_temp.workflow_batch as b
    set points = greatest(-100000 - l.score, least(100000 - l.score, step_points))
    from public.leads as l
    where b.execution_id = any (members)
      and l.id = b.lead_id;
    insert into public.lead_score_ledger (user_id, lead_id, points, source, reason, workflow_id, execution_id)
    select b.user_id, b.lead_id, b.points, 'workflow', format('%s: step %s', b.workflow_name, b.step), workflow,
           b.execution_id
    from pg_temp.workflow_batch as b
    where b.execution_id = any (members)
      and b.points <> 0;
    perform set_config('beacon.trusted_score_write', 'on', true);
    with u as (
      update public.leads as l
      set score = l.score + b.points
      from pg_temp.workflow_batch as b
      where b.execution_id = any (members)
        and l.id = b.lead_id
        and b.points <> 0
      returning l.id, l.score
    )
    update pg_temp.workflow_batch as b
    set results = b.results || (
          jsonb_build_object('step', b.step, 'type', kind, 'status', 'done', 'at', now())
          || case when u.id is null then '{"status": "unchanged"}'::jsonb
                  else jsonb_build_object('points', b.points, 'score', u.score) end),
        step = b.step + 1
    from pg_temp.workflow_batch as m
    left join u on u.id = m.lead_id
    where m.execution_id = any (members)
      and b.execution_id = m.execution_id;
    perform set_config('beacon.trusted_score_write', '', true);
  when 'wait' then
    until_at := case when definition ? 'duration' then now() + (definition ->> 'duration')::interval
                     else (definition ->> 'until')::timestamptz end;
    update pg_temp.workflow_batch as b
    set results = b.results || (
          jsonb_build_object('step', b.step, 'type', kind, 'status', 'done', 'at', now())
          || case when until_at > now() then jsonb_build_object('status', 'waiting', 'until', until_at)
                  else '{}'::jsonb end),
        state = case when until_at > now() then 'waiting' else b.state end,
        park_until = until_at,
        step = b.step + 1
    where b.execution_id = any (members);
  when 'condition' then
    update pg_temp.workflow_batch as b
    set results = b.results || (
          jsonb_build_object('step', b.step, 'type', kind, 'status', 'done', 'at', now())
          || case when h.lead_id is not null then '{"matched": true}'::jsonb
                  when definition ->> 'otherwise' = 'skip' then '{"matched": false}'::jsonb
                  else '{"matched": false, "status": "stopped"}'::jsonb end),
        skip_next = h.lead_id is null and coalesce(definition ->> 'otherwise' = 'skip', false),
        state = case when h.lead_id is null and coalesce(definition ->> 'otherwise' = 'skip', false) is false
                     then 'done' else b.state end,
        step = b.step + 1
    from pg_temp.workflow_batch as m
    left join private.workflow_conditions_hold(group_leads, definition -> 'conditions') as h (lead_id)
      on h.lead_id = m.lead_id
    where m.execution_id = any (members)
      and b.execution_id = m.execution_id;
  when 'send_email' then
    if definition ? 'content_id' then
      select c.* into content_row
      from public.content as c
      where c.id = (definition ->> 'content_id')::uuid and c.user_id = owner;
      if not found then
        raise exception 'content % no longer exists', definition ->> 'content_id';
      end if;
    end if;
    -- Through the email pipeline: one email campaign for the step's leads in this batch, sending now.
    insert into public.email_campaigns (
      user_id, subject, content, template_id, recipient_list, send_at, status, from_email, from_name, reply_to
    )
    values (
      owner,
      coalesce(definition ->> 'subject', content_row.title),
      coalesce(definition ->> 'body', content_row.content),
      content_row.id,
      jsonb_build_array(jsonb_build_object('leads', jsonb_build_object('ids', to_jsonb(group_leads)))),
      now(),
      'scheduled',
      definition ->> 'from_email',
      definition ->> 'from_name',
      definition ->> 'reply_to'
    )
    returning id into email_id;
    update public.email_campaigns as c set status = 'sending' where c.id = email_id;
    update pg_temp.workflow_batch as b
    set results = b.results || (
          jsonb_build_object('step', b.step, 'type', kind, 'status', 'done', 'at', now())
          || jsonb_build_object('email_campaign_id', email_id, 'delivery_id', d.id, 'delivery_status', d.status)),
        step = b.step + 1
    from pg_temp.workflow_batch as m
    left join public.email_deliveries as d on d.email_campaign_id = email_id and d.lead_id = m.lead_id
    where m.execution_id = any (members)
      and b.execution_id = m.execution_id;
  when 'webhook' then
    with hooks as (
      insert into private.webhook_queue (user_id, execution_id, step, url, secret_name, headers, body)
      select
        b.user_id,
        b.execution_id,
        b.step,
        definition ->> 'url',
        coalesce(definition ->> 'secret_name', 'WEBHOOK_SIGNING_SECRET'),
        coalesce(definition -> 'headers', '{}'),
        jsonb_build_object(
          'type', 'workflow.webhook',
          'workflow', jsonb_build_object('id', workflow, 'name', b.workflow_name),
          'execution_id', b.execution_id,
          'step', b.step,
          'trigger', e.trigger_data,
          'lead', to_jsonb(l) - 'user_id',
          'payload', coalesce(definition -> 'payload', '{}'))
      from pg_temp.workflow_batch as b
      join public.workflow_executions as e on e.id = b.execution_id
      join public.leads as l on l.id = b.lead_id
      where b.execution_id = any (members)
      returning id, execution_id
    )
    update pg_temp.workflow_batch as b
    set results = b.results || (
          jsonb_build_object('step', b.step, 'type', kind, 'status', 'waiting', 'at', now(), 'webhook_id', h.id)),
        state = 'waiting',
        park_until = 'infinity',
        hook_id = h.id,
        step = b.step + 1
    from hooks as h
    where b.execution_id = h.execution_id;
  else
    raise exception 'unknown step type %', coalesce(kind, 'null');
  end case;

  -- Tags and fields: `changed` holds the leads the step changed; the others were unchanged.
  if kind in ('add_tag', 'remove_tag', 'set_field') then
    update pg_temp.workflow_batch as b
    set results = b.results || jsonb_build_object('step', b.step, 'type', kind, 'at', now(),
          'status', case when b.lead_id = any (changed) then 'done' else 'unchanged' end),
        step = b.step + 1
    where b.execution_id = any (members);
  end if;

  perform set_config('beacon.workflow_chain', '', true);
  perform set_config('beacon.workflow_id', '', true);
  perform set_config('beacon.change_reason', '', true);
  perform set_config('beacon.lead_executions', '', true);
end;
$$;
comment on function private.run_workflow_step(uuid, uuid[], jsonb, uuid[]) is
  'Runs one step of one workflow for many executions (each on its own lead) with one statement per step kind, recording each one''s result in pg_temp.workflow_batch (private.run_workflow_steps).';

-- The rounds over a batch of runs (all on active workflows and locked leads of their owners).
-- A failing group is raised as BW001 with its executions in the detail, everything undone.
create function private.run_workflow_steps(runs private.workflow_runs[])
returns void
language plpgsql
set search_path = ''
as $$
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
          select b.workflow_id, b.workflow_name, b.chain, b.steps -> b.step as definition,
                 array_agg(b.execution_id) as members
          from pg_temp.workflow_batch as b
          where b.execution_id = any (heads)
          group by b.workflow_id, b.workflow_name, b.chain, b.step, b.steps -> b.step
        loop
          failing := grp.members;
          perform private.run_workflow_step(grp.workflow_id, grp.chain, grp.definition, grp.members);
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
$$;
comment on function private.run_workflow_steps(private.workflow_runs[]) is
  'Runs a batch''s executions set-based, lane by lane (each lead''s first execution, then its second, ...) in rounds (grouped by workflow step, private.run_workflow_step) until none can go on; records results and parks or ends each run. A failing group raises BW001 naming its executions, with everything undone.';

-- From the current definition (20261204110400_workflow_worker_quotas): the same claim, quota
-- and dispatch wake-up; the runs go through private.run_workflow_steps, and one by one only
-- where the set-based path does not apply or a group of theirs failed.
create or replace function private.run_workflow_batch(max_executions integer default 100)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  claimed private.workflow_runs[];
  alone uuid[];
  failed uuid[];
  state text;
  detail text;
  run private.workflow_runs;
begin
  select coalesce(array_agg(c), '{}') into claimed from private.claim_workflow_runs(max_executions) as c;
  -- Leads are loaded by their run's owner and locked in id order, as one by one locked them.
  perform
  from public.leads as l
  join unnest(claimed) as c on l.id = c.lead_id and l.user_id = c.user_id
  order by l.id
  for update of l;
  -- One by one: back from a webhook, no lead, or a lead or active workflow of the owner missing
  -- (each of these ends in its own way, with its own reason).
  alone := array(
    select c.execution_id
    from unnest(claimed) as c
    where c.waiting_for is not null
       or not exists (
         select from public.workflows as w where w.id = c.workflow_id and w.user_id = c.user_id and w.is_active)
       or not exists (select from public.leads as l where l.id = c.lead_id and l.user_id = c.user_id));
  loop
    begin
      perform private.run_workflow_steps(array(
        select c from unnest(claimed) as c where c.execution_id <> all (alone)));
      exit;
    exception when others then
      get stacked diagnostics state = returned_sqlstate, detail = pg_exception_detail;
      failed := case when state = 'BW001' then nullif(detail, '')::uuid[] end;
      -- A failure outside any group (none named): everything runs one by one.
      alone := case when cardinality(failed) > 0 then alone || failed
                    else array(select c.execution_id from unnest(claimed) as c) end;
    end;
  end loop;
  for run in
    select c.*
    from unnest(claimed) as c
    where c.execution_id = any (alone)
  loop
    perform private.run_workflow_execution(run);
  end loop;
  insert into private.workflow_quotas as q (user_id, minute, executions)
  select c.user_id, date_trunc('minute', now()), count(*)
  from unnest(claimed) as c
  group by c.user_id
  on conflict (user_id) do update
  set executions = case when q.minute = excluded.minute then q.executions + excluded.executions else excluded.executions end,
      minute = excluded.minute;
  if exists (
    select from private.webhook_queue as q
    where q.status = 'pending' and coalesce(q.lease_until, q.run_after) <= now()
  ) then
    perform private.call_function('/dispatch');
  end if;
  return cardinality(claimed);
end;
$$;
comment on function private.run_workflow_batch(integer) is
  'Runs up to max_executions due workflow executions, claimed fairly across owners within their quotas (private.claim_workflow_runs), set-based (private.run_workflow_steps) and one by one (private.run_workflow_execution) where a group failed or the set-based path does not apply; wakes dispatch for queued webhooks. Returns how many ran.';

revoke all on function
  private.run_workflow_step(uuid, uuid[], jsonb, uuid[]),
  private.run_workflow_steps(private.workflow_runs[])
from public, anon, authenticated, service_role;
