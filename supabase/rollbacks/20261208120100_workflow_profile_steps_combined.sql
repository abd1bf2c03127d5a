-- Rollback of 20261207160100_workflow_profile_steps_combined: every profile step writes its
-- lead with its own update again, in both workers (the definitions of
-- 20261206130200_workflow_worker_set_based).
create or replace function private.run_workflow_execution(run private.workflow_runs)
returns text
language plpgsql
set search_path = ''
as $$
declare
  workflow public.workflows;
  lead public.leads;
  hook private.webhook_queue;
  steps jsonb;
  step jsonb;
  i integer := run.next_step;
  kind text;
  results jsonb := '[]'::jsonb;
  result jsonb;
  outcome text := 'completed';
  skip_next boolean := false;
  park_until timestamptz;
  hook_id uuid;
  target text;
  points integer;
  email_id uuid;
  delivery public.email_deliveries;
  content_row public.content;
  message text;
begin
  select w.* into workflow from public.workflows as w where w.id = run.workflow_id and w.user_id = run.user_id;
  if workflow.is_active is not true then
    update public.workflow_executions as e
    set status = 'failed',
        error_message = 'the workflow was deactivated before this execution finished',
        completed_at = greatest(now(), e.started_at)
    where e.id = run.execution_id;
    delete from private.workflow_runs as r where r.execution_id = run.execution_id;
    return 'failed';
  end if;
  steps := workflow.action_config -> 'steps';

  begin
    perform set_config('beacon.workflow_chain', (run.chain || run.workflow_id)::text, true);
    perform set_config('beacon.workflow_id', run.workflow_id::text, true);
    perform set_config('beacon.execution_id', run.execution_id::text, true);
    perform set_config('beacon.change_reason', 'workflow', true);

    -- Back from a webhook step: its outcome is that step's result.
    if run.waiting_for is not null then
      i := run.next_step - 1;
      kind := 'webhook';
      select q.* into hook from private.webhook_queue as q where q.id = run.waiting_for;
      if hook.status = 'pending' then
        update private.workflow_runs as r set run_after = 'infinity' where r.execution_id = run.execution_id;
        perform set_config('beacon.change_reason', '', true);
        return 'waiting';
      end if;
      delete from private.webhook_queue as q where q.id = hook.id;
      if hook.status = 'dead' or hook.id is null then
        raise exception '%', coalesce(hook.last_error, 'the webhook was lost');
      end if;
      results := results || jsonb_build_object('step', i, 'type', 'webhook', 'status', 'done', 'at', now(),
        'webhook_id', hook.id, 'http_status', hook.http_status, 'attempts', hook.attempts);
      i := run.next_step;
    end if;

    if run.lead_id is not null then
      select l.* into lead from public.leads as l where l.id = run.lead_id and l.user_id = run.user_id for update;
      if not found then
        kind := coalesce(steps -> i ->> 'type', 'start');
        raise exception 'the lead % no longer exists', run.lead_id;
      end if;
    end if;

    while i < jsonb_array_length(steps) loop
      step := steps -> i;
      kind := step ->> 'type';
      result := jsonb_build_object('step', i, 'type', kind, 'status', 'done', 'at', now());
      if skip_next then
        result := result || '{"status": "skipped", "reason": "the condition before it did not hold"}';
        skip_next := false;
      elsif lead.id is null and kind not in ('wait', 'webhook') then
        raise exception 'this execution has no lead (its trigger named none)';
      else
        case kind
        when 'set_status' then
          target := step ->> 'status';
          if lead.status = target then
            result := result || '{"status": "unchanged"}';
          elsif lead.status in ('converted', 'lost')
             or (lead.status = 'contacted' and target not in ('converted', 'lost')) then
            result := result || jsonb_build_object('status', 'skipped',
              'reason', format('workflows never move a lead back from %s', lead.status));
          else
            update public.leads as l set status = target where l.id = lead.id returning l.* into lead;
            result := result || jsonb_build_object('to', target);
          end if;
        when 'add_tag' then
          if step ->> 'tag' = any (lead.tags) then
            result := result || '{"status": "unchanged"}';
          else
            update public.leads as l set tags = l.tags || (step ->> 'tag') where l.id = lead.id returning l.* into lead;
          end if;
        when 'remove_tag' then
          if not step ->> 'tag' = any (lead.tags) then
            result := result || '{"status": "unchanged"}';
          else
            update public.leads as l set tags = array_remove(l.tags, step ->> 'tag') where l.id = lead.id
            returning l.* into lead;
          end if;
        when 'set_field' then
          if lead.custom_fields -> (step ->> 'key') is not distinct from nullif(step -> 'value', 'null') then
            result := result || '{"status": "unchanged"}';
          else
            update public.leads as l
            set custom_fields = case when step -> 'value' = 'null' then l.custom_fields - (step ->> 'key')
                                     else l.custom_fields || jsonb_build_object(step ->> 'key', step -> 'value') end
            where l.id = lead.id
            returning l.* into lead;
          end if;
        when 'adjust_score' then
          -- Within the score's bounds, and ledgered as this workflow's doing.
          points := private.jsonb_integer(step -> 'points');
          if points is null or points not between -1000 and 1000 then
            raise exception 'points: expected a whole number from -1000 to 1000, not %',
              coalesce(left((step -> 'points')::text, 100), '(missing)');
          end if;
          -- The score column's range (leads_score_check): the step moves the score at most to a bound.
          points := greatest(-100000 - lead.score, least(100000 - lead.score, points));
          if points = 0 then
            result := result || '{"status": "unchanged"}';
          else
            insert into public.lead_score_ledger (user_id, lead_id, points, source, reason, workflow_id, execution_id)
            values (lead.user_id, lead.id, points, 'workflow', format('%s: step %s', workflow.name, i), workflow.id,
                    run.execution_id);
            perform set_config('beacon.trusted_score_write', 'on', true);
            update public.leads as l set score = l.score + points where l.id = lead.id returning l.* into lead;
            perform set_config('beacon.trusted_score_write', '', true);
            result := result || jsonb_build_object('points', points, 'score', lead.score);
          end if;
        when 'wait' then
          park_until := case when step ? 'duration' then now() + (step ->> 'duration')::interval
                             else (step ->> 'until')::timestamptz end;
          if park_until > now() then
            result := result || jsonb_build_object('status', 'waiting', 'until', park_until);
            outcome := 'waiting';
          end if;
        when 'condition' then
          if private.lead_matches(lead, step -> 'conditions') then
            result := result || '{"matched": true}';
          elsif step ->> 'otherwise' = 'skip' then
            result := result || '{"matched": false}';
            skip_next := true;
          else
            result := result || '{"matched": false, "status": "stopped"}';
            outcome := 'stopped';
          end if;
        when 'send_email' then
          content_row := null;
          if step ? 'content_id' then
            select c.* into content_row
            from public.content as c
            where c.id = (step ->> 'content_id')::uuid and c.user_id = lead.user_id;
            if not found then
              raise exception 'content % no longer exists', step ->> 'content_id';
            end if;
          end if;
          -- Through the email pipeline: a one-recipient email campaign that starts sending now.
          insert into public.email_campaigns (
            user_id, subject, content, template_id, recipient_list, send_at, status, from_email, from_name, reply_to
          )
          values (
            lead.user_id,
            coalesce(step ->> 'subject', content_row.title),
            coalesce(step ->> 'body', content_row.content),
            content_row.id,
            jsonb_build_array(jsonb_build_object('leads', jsonb_build_object('ids', jsonb_build_array(lead.id)))),
            now(),
            'scheduled',
            step ->> 'from_email',
            step ->> 'from_name',
            step ->> 'reply_to'
          )
          returning id into email_id;
          update public.email_campaigns as c set status = 'sending' where c.id = email_id;
          select d.* into delivery from public.email_deliveries as d where d.email_campaign_id = email_id;
          result := result || jsonb_build_object('email_campaign_id', email_id, 'delivery_id', delivery.id,
            'delivery_status', delivery.status);
        when 'webhook' then
          insert into private.webhook_queue (user_id, execution_id, step, url, secret_name, headers, body)
          select
            run.user_id,
            run.execution_id,
            i,
            step ->> 'url',
            coalesce(step ->> 'secret_name', 'WEBHOOK_SIGNING_SECRET'),
            coalesce(step -> 'headers', '{}'),
            jsonb_build_object(
              'type', 'workflow.webhook',
              'workflow', jsonb_build_object('id', workflow.id, 'name', workflow.name),
              'execution_id', run.execution_id,
              'step', i,
              'trigger', e.trigger_data,
              'lead', case when lead.id is not null then to_jsonb(lead) - 'user_id' end,
              'payload', coalesce(step -> 'payload', '{}'))
          from public.workflow_executions as e
          where e.id = run.execution_id
          returning id into hook_id;
          result := result || jsonb_build_object('status', 'waiting', 'webhook_id', hook_id);
          park_until := 'infinity';
          outcome := 'waiting';
        else
          raise exception 'unknown step type %', coalesce(kind, 'null');
        end case;
      end if;
      results := results || result;
      i := i + 1;
      exit when outcome <> 'completed';
    end loop;

    perform set_config('beacon.workflow_chain', '', true);
    perform set_config('beacon.workflow_id', '', true);
    perform set_config('beacon.execution_id', '', true);
    perform set_config('beacon.change_reason', '', true);

    update public.workflow_executions as e
    set step_results = e.step_results || results,
        status = case when outcome = 'waiting' then e.status else 'completed' end,
        completed_at = case when outcome = 'waiting' then null else greatest(now(), e.started_at) end
    where e.id = run.execution_id;
    if outcome = 'waiting' then
      update private.workflow_runs as r
      set next_step = i,
          run_after = park_until,
          waiting_for = hook_id
      where r.execution_id = run.execution_id;
      return 'waiting';
    end if;
    delete from private.workflow_runs as r where r.execution_id = run.execution_id;
    return 'completed';
  exception when others then
    -- Everything this execution did since it last parked is undone; it fails alone.
    get stacked diagnostics message = message_text;
    update public.workflow_executions as e
    set status = 'failed',
        error_message = left(format('steps[%s] (%s): %s', i, coalesce(kind, 'start'), message), 2000),
        completed_at = greatest(now(), e.started_at),
        step_results = e.step_results || jsonb_build_object('step', i, 'type', kind, 'status', 'failed',
          'at', now(), 'error', left(message, 1000))
    where e.id = run.execution_id;
    delete from private.workflow_runs as r where r.execution_id = run.execution_id;
    return 'failed';
  end;
end;
$$;

create or replace function private.run_workflow_step(workflow uuid, step_chain uuid[], definition jsonb, members uuid[])
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

create or replace function private.run_workflow_steps(runs private.workflow_runs[])
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

comment on function private.run_workflow_execution(private.workflow_runs) is
  'Runs one execution''s steps from where it stopped until it parks (wait, webhook), completes or fails; returns completed, waiting or failed.';
comment on function private.run_workflow_step(uuid, uuid[], jsonb, uuid[]) is
  'Runs one step of one workflow for many executions (each on its own lead) with one statement per step kind, recording each one''s result in pg_temp.workflow_batch (private.run_workflow_steps).';
comment on function private.run_workflow_steps(private.workflow_runs[]) is
  'Runs a batch''s executions set-based, lane by lane (each lead''s first execution, then its second, ...) in rounds (grouped by workflow step, private.run_workflow_step) until none can go on; records results and parks or ends each run. A failing group raises BW001 naming its executions, with everything undone.';

drop function private.run_workflow_profile_steps(uuid, uuid[], jsonb, integer, uuid[]);
drop function private.workflow_step_fields(jsonb, jsonb);
drop function private.workflow_step_tags(text[], jsonb);
