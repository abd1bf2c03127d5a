-- Restores the email tick of 20261125131300_email_tick.sql and the metrics refresh it called.

create function private.refresh_email_metrics()
returns integer
language sql
set search_path = ''
as $$
  -- Only campaigns that have started have deliveries to count.
  with noted as (
    delete from private.email_metrics_stale as n
    using public.email_campaigns as c
    where c.id = n.email_campaign_id
      and c.status not in ('draft', 'scheduled')
    returning n.email_campaign_id
  ),
  refreshed as (
    update public.email_campaigns as c
    set metrics = private.email_campaign_metrics(c.id)
    where c.id in (select n.email_campaign_id from noted as n)
    returning 1
  )
  select count(*)::integer from refreshed
$$;
comment on function private.refresh_email_metrics() is
  'Recounts the metrics of the campaigns noted in private.email_metrics_stale and clears the notes; returns how many campaigns.';
revoke all on function private.refresh_email_metrics() from public, anon, authenticated, service_role;

create or replace function private.email_tick()
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  started integer;
  cancelled integer;
  finished integer;
  refreshed integer;
  ready boolean;
  request_id bigint;
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

  refreshed := private.refresh_email_metrics();

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
    'cancelled', cancelled,
    'finished', finished,
    'refreshed', refreshed,
    'ready', ready,
    'dispatch_requested', request_id is not null
  );
end;
$$;

comment on function private.email_tick() is
  'Every minute (pg_cron beacon-email-tick): starts and fans out due campaigns, finishes done ones, refreshes metrics, wakes dispatch.';

drop function private.fail_email_campaign(uuid, text, text);
drop function private.email_tick_run(text, uuid[]);
drop function private.email_tick_units(text);
