-- The email tick isolates campaigns: one campaign whose data makes a statement fail never
-- keeps the tick from starting, cancelling, finishing or counting the others.
--
-- Each step first runs set-based over every campaign it concerns, in a subtransaction (the
-- common case, as fast as before). If that fails, the step is run again campaign by
-- campaign, each in a subtransaction of its own: a campaign that fails to start becomes
-- failed with error_message ("could not start sending: recipient_list[0].leads.ids[0]: ...");
-- one that fails a later step keeps its status and gets the reason in error_message (the
-- next tick tries it again). The tick then goes on with everyone else.
--
-- A new step: unsubscribes whose side effects failed are retried
-- (private.retry_email_unsubscribe_effects). The result gains "failed" (campaigns failed
-- this tick) and "effects_retried".

-- Records why a campaign could not go through a step of the tick; a campaign that could
-- not start becomes failed. If even that cannot be written, a warning names it.
create function private.fail_email_campaign(email_campaign_id uuid, step text, problem text)
returns void
language plpgsql
set search_path = ''
as $$
begin
  update public.email_campaigns as c
  set status = case when step = 'start' then 'failed' else c.status end,
      error_message = left(format('could not %s: %s', case step
          when 'start' then 'start sending'
          when 'cancel' then 'cancel the queued deliveries'
          when 'finish' then 'finish sending'
          else 'count the metrics'
        end, problem), 2000)
  where c.id = fail_email_campaign.email_campaign_id;
exception when others then
  raise warning 'email tick: campaign % (step %) failed with "%" and the reason could not be recorded: %',
    email_campaign_id, step, problem, sqlerrm;
end;
$$;
comment on function private.fail_email_campaign(uuid, text, text) is
  'Email tick: writes error_message on a campaign a step failed for (start: the campaign becomes failed).';

create or replace function private.email_tick()
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  started integer := 0;
  failed integer := 0;
  cancelled integer := 0;
  finished integer := 0;
  refreshed integer := 0;
  retried integer;
  ready boolean;
  request_id bigint;
  unit_id uuid;
  counted integer;
  problem text;
begin
  -- 1. Due campaigns start sending; the status trigger fans each out.
  begin
    with due as (
      select c.id
      from public.email_campaigns as c
      where c.status = 'scheduled'
        and c.send_at <= now()
      order by c.send_at
      for update skip locked
    )
    update public.email_campaigns as c
    set status = 'sending'
    from due
    where c.id = due.id;
    get diagnostics started = row_count;
  exception when others then
    started := 0;
    for unit_id in
      select c.id
      from public.email_campaigns as c
      where c.status = 'scheduled'
        and c.send_at <= now()
      order by c.send_at
      for update skip locked
    loop
      begin
        update public.email_campaigns as c
        set status = 'sending'
        where c.id = unit_id;
        started := started + 1;
      exception when others then
        get stacked diagnostics problem = message_text;
        perform private.fail_email_campaign(unit_id, 'start', problem);
        failed := failed + 1;
      end;
    end loop;
  end;

  -- 2. Queue rows of cancelled campaigns whose worker never reported are cancelled. A
  -- cancellation starts no email_event workflow, so their trigger is skipped.
  perform set_config('beacon.email_event_workflows', 'deferred', true);
  begin
    with abandoned as (
      delete from private.email_queue as q
      using public.email_campaigns as c
      where c.status = 'cancelled'
        and q.email_campaign_id = c.id
        and q.lease_until <= now()
      returning q.delivery_id
    )
    update public.email_deliveries as d
    set status = 'cancelled'
    from abandoned as a
    where d.id = a.delivery_id
      and d.status = 'queued';
    get diagnostics cancelled = row_count;
  exception when others then
    cancelled := 0;
    for unit_id in
      select distinct q.email_campaign_id
      from private.email_queue as q
      join public.email_campaigns as c on c.id = q.email_campaign_id
      where c.status = 'cancelled'
        and q.lease_until <= now()
    loop
      begin
        with abandoned as (
          delete from private.email_queue as q
          where q.email_campaign_id = unit_id
            and q.lease_until <= now()
          returning q.delivery_id
        )
        update public.email_deliveries as d
        set status = 'cancelled'
        from abandoned as a
        where d.id = a.delivery_id
          and d.status = 'queued';
        get diagnostics counted = row_count;
        cancelled := cancelled + counted;
      exception when others then
        get stacked diagnostics problem = message_text;
        perform private.fail_email_campaign(unit_id, 'cancel', problem);
      end;
    end loop;
  end;
  perform set_config('beacon.email_event_workflows', '', true);

  -- 3. Sending campaigns with nothing left in the queue finish.
  begin
    with done as (
      select c.id, private.email_campaign_metrics(c.id) as metrics
      from public.email_campaigns as c
      where c.status = 'sending'
        and not exists (select from private.email_queue as q where q.email_campaign_id = c.id)
      for update of c skip locked
    )
    update public.email_campaigns as c
    set status = case
          when (done.metrics ->> 'failed')::integer > 0 and (done.metrics ->> 'sent')::integer = 0 then 'failed'
          else 'sent'
        end,
        metrics = done.metrics
    from done
    where c.id = done.id;
    get diagnostics finished = row_count;
  exception when others then
    finished := 0;
    for unit_id in
      select c.id
      from public.email_campaigns as c
      where c.status = 'sending'
        and not exists (select from private.email_queue as q where q.email_campaign_id = c.id)
      for update of c skip locked
    loop
      begin
        update public.email_campaigns as c
        set status = case
              when (m.metrics ->> 'failed')::integer > 0 and (m.metrics ->> 'sent')::integer = 0 then 'failed'
              else 'sent'
            end,
            metrics = m.metrics
        from (select private.email_campaign_metrics(unit_id) as metrics) as m
        where c.id = unit_id;
        finished := finished + 1;
      exception when others then
        get stacked diagnostics problem = message_text;
        perform private.fail_email_campaign(unit_id, 'finish', problem);
      end;
    end loop;
  end;

  -- 4. Metrics are recounted for campaigns whose deliveries changed.
  begin
    refreshed := private.refresh_email_metrics();
  exception when others then
    refreshed := 0;
    for unit_id in
      select distinct n.email_campaign_id
      from private.email_metrics_stale as n
      join public.email_campaigns as c on c.id = n.email_campaign_id
      where c.status not in ('draft', 'scheduled')
    loop
      begin
        with noted as (
          delete from private.email_metrics_stale as n
          where n.email_campaign_id = unit_id
          returning 1
        )
        update public.email_campaigns as c
        set metrics = private.email_campaign_metrics(c.id)
        where c.id = unit_id
          and exists (select from noted);
        refreshed := refreshed + 1;
      exception when others then
        get stacked diagnostics problem = message_text;
        perform private.fail_email_campaign(unit_id, 'count', problem);
      end;
    end loop;
  end;

  -- 5. Unsubscribes whose side effects failed are retried (each in its own subtransaction).
  retried := private.retry_email_unsubscribe_effects(100);

  ready := exists (
    select
    from private.email_queue as q
    where not q.paused
      and coalesce(q.lease_until, q.run_after) <= now()
  );
  if ready then
    request_id := private.call_function('/dispatch');
  end if;

  return jsonb_build_object(
    'started', started,
    'failed', failed,
    'cancelled', cancelled,
    'finished', finished,
    'refreshed', refreshed,
    'effects_retried', retried,
    'ready', ready,
    'dispatch_requested', request_id is not null
  );
end;
$$;
comment on function private.email_tick() is
  'Every minute (pg_cron beacon-email-tick): starts and fans out due campaigns, finishes done ones, refreshes metrics, '
  'retries unsubscribes'' side effects, wakes dispatch; a campaign that fails a step fails alone, with error_message.';

revoke all on function private.fail_email_campaign(uuid, text, text) from public, anon, authenticated, service_role;
