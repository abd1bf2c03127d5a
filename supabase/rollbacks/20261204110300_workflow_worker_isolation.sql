-- Rollback of 20261204110300_workflow_worker_isolation: one execution's run as
-- 20261125141800_workflow_worker defined it.
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
  select w.* into workflow from public.workflows as w where w.id = run.workflow_id;
  if not workflow.is_active then
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
      select l.* into lead from public.leads as l where l.id = run.lead_id for update;
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
          points := greatest(-100000 - lead.score, least(100000 - lead.score, (step ->> 'points')::integer));
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
