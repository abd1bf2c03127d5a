-- The email tick isolates campaigns: one campaign whose data makes a statement fail never
-- keeps the tick from starting, cancelling, finishing or counting the others.
--
-- Each step (start, cancel, finish, count) first runs set-based over every campaign it
-- concerns, in a subtransaction (the common case, as fast as before). If that fails, the
-- step runs again campaign by campaign, each in a subtransaction of its own: a campaign that
-- fails to start becomes failed with error_message ("could not start sending:
-- recipient_list[0].leads.ids[0]: ..."); one that fails a later step keeps its status and
-- gets the reason in error_message (the next tick tries it again). The tick goes on with
-- everyone else.
--
-- A new step: unsubscribes whose side effects failed are retried
-- (private.retry_email_unsubscribe_effects). The result gains "failed" (campaigns failed
-- this tick) and "effects_retried".

-- The campaigns a step of the tick concerns now (each query on the index its step uses).
create function private.email_tick_units(step text)
returns uuid[]
language plpgsql
stable
set search_path = ''
as $$
declare
  ids uuid[];
begin
  if step = 'start' then
    select array_agg(c.id order by c.send_at)
    into ids
    from public.email_campaigns as c
    where c.status = 'scheduled'
      and c.send_at <= now();
  elsif step = 'cancel' then
    select array_agg(distinct q.email_campaign_id)
    into ids
    from private.email_queue as q
    join public.email_campaigns as c on c.id = q.email_campaign_id
    where c.status = 'cancelled'
      and q.lease_until <= now();
  elsif step = 'finish' then
    select array_agg(c.id)
    into ids
    from public.email_campaigns as c
    where c.status = 'sending'
      and not exists (select from private.email_queue as q where q.email_campaign_id = c.id);
  elsif step = 'count' then
    select array_agg(distinct n.email_campaign_id)
    into ids
    from private.email_metrics_stale as n
    join public.email_campaigns as c on c.id = n.email_campaign_id
    where c.status not in ('draft', 'scheduled');
  else
    raise exception using
      errcode = 'invalid_parameter_value',
      message = format('email_tick_units: unknown step %s', coalesce(quote_literal(step), 'null')),
      hint = 'step is one of start, cancel, finish, count.';
  end if;
  return coalesce(ids, '{}');
end;
$$;
comment on function private.email_tick_units(text) is
  'Email tick: the campaigns a step (start, cancel, finish, count) concerns now.';

-- Runs one step of the tick, set-based, on the given campaigns (re-checking each one's state
-- and skipping those another transaction holds); returns how many it started, cancelled
-- (deliveries), finished or counted.
create function private.email_tick_run(step text, ids uuid[])
returns integer
language plpgsql
set search_path = ''
as $$
declare
  moved integer := 0;
begin
  if step = 'start' then
    with due as (
      select c.id
      from public.email_campaigns as c
      where c.id = any (ids)
        and c.status = 'scheduled'
        and c.send_at <= now()
      order by c.send_at
      for update skip locked
    )
    update public.email_campaigns as c
    set status = 'sending'
    from due
    where c.id = due.id;
    get diagnostics moved = row_count;
  elsif step = 'cancel' then
    -- A cancellation starts no email_event workflow, so their trigger is skipped.
    perform set_config('beacon.email_event_workflows', 'deferred', true);
    with abandoned as (
      delete from private.email_queue as q
      using public.email_campaigns as c
      where c.id = any (ids)
        and c.status = 'cancelled'
        and q.email_campaign_id = c.id
        and q.lease_until <= now()
      returning q.delivery_id
    )
    update public.email_deliveries as d
    set status = 'cancelled'
    from abandoned as a
    where d.id = a.delivery_id
      and d.status = 'queued';
    get diagnostics moved = row_count;
    perform set_config('beacon.email_event_workflows', '', true);
  elsif step = 'finish' then
    with finishing as (
      select c.id, private.email_campaign_metrics(c.id) as metrics
      from public.email_campaigns as c
      where c.id = any (ids)
        and c.status = 'sending'
        and not exists (select from private.email_queue as q where q.email_campaign_id = c.id)
      for update of c skip locked
    )
    update public.email_campaigns as c
    set status = case
          when (f.metrics ->> 'failed')::integer > 0 and (f.metrics ->> 'sent')::integer = 0 then 'failed'
          else 'sent'
        end,
        metrics = f.metrics
    from finishing as f
    where c.id = f.id;
    get diagnostics moved = row_count;
  elsif step = 'count' then
    -- As private.refresh_email_metrics: a note is deleted by the statement that recounts.
    with noted as (
      delete from private.email_metrics_stale as n
      using public.email_campaigns as c
      where c.id = n.email_campaign_id
        and c.id = any (ids)
        and c.status not in ('draft', 'scheduled')
      returning n.email_campaign_id
    ),
    refreshed as (
      update public.email_campaigns as c
      set metrics = private.email_campaign_metrics(c.id)
      where c.id in (select n.email_campaign_id from noted as n)
      returning 1
    )
    select count(*)::integer into moved from refreshed;
  else
    raise exception using
      errcode = 'invalid_parameter_value',
      message = format('email_tick_run: unknown step %s', coalesce(quote_literal(step), 'null')),
      hint = 'step is one of start, cancel, finish, count.';
  end if;
  return moved;
end;
$$;
comment on function private.email_tick_run(text, uuid[]) is
  'Email tick: runs one step (start, cancel, finish, count) set-based on the given campaigns; returns how many rows it moved.';

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
  step text;
  ids uuid[];
  unit_id uuid;
  problem text;
  counts jsonb := '{}'::jsonb;
  done integer;
  failed integer := 0;
  retried integer;
  ready boolean;
  request_id bigint;
begin
  foreach step in array array['start', 'cancel', 'finish', 'count'] loop
    ids := private.email_tick_units(step);
    done := 0;
    if cardinality(ids) > 0 then
      begin
        done := private.email_tick_run(step, ids);
      exception when others then
        -- One of them fails the batch: each on its own, so it fails alone.
        foreach unit_id in array ids loop
          begin
            done := done + private.email_tick_run(step, array[unit_id]);
          exception when others then
            get stacked diagnostics problem = message_text;
            perform private.fail_email_campaign(unit_id, step, problem);
            if step = 'start' then
              failed := failed + 1;
            end if;
          end;
        end loop;
      end;
    end if;
    counts := counts || jsonb_build_object(step, done);
  end loop;

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
    'started', counts -> 'start',
    'failed', failed,
    'cancelled', counts -> 'cancel',
    'finished', counts -> 'finish',
    'refreshed', counts -> 'count',
    'effects_retried', retried,
    'ready', ready,
    'dispatch_requested', request_id is not null
  );
end;
$$;
comment on function private.email_tick() is
  'Every minute (pg_cron beacon-email-tick): starts and fans out due campaigns, finishes done ones, refreshes metrics, '
  'retries unsubscribes'' side effects, wakes dispatch; a campaign that fails a step fails alone, with error_message.';

-- The count step replaces it.
drop function private.refresh_email_metrics();

revoke all on function
  private.email_tick_units(text),
  private.email_tick_run(text, uuid[]),
  private.fail_email_campaign(uuid, text, text)
from public, anon, authenticated, service_role;
