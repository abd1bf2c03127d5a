-- Restores private.record_email_event of 20261125131200_email_events.sql and drops the
-- helpers 20261204120700_email_events_durable.sql added.

create or replace function private.record_email_event(
  kind text,
  delivery_id uuid,
  occurred_at timestamptz,
  is_machine boolean default false,
  details jsonb default '{}'
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  happened_at constant timestamptz := coalesce(occurred_at, now());
  human constant boolean := not coalesce(is_machine, false);
  status_rank constant jsonb := '{"queued": 0, "failed": 0, "sent": 1, "delayed": 2, "delivered": 3, "bounced": 4, "complained": 5}'::jsonb;
  old_row public.email_deliveries;
  new_row public.email_deliveries;
  fact_status text;
  suppression text;
  analytics_name text;
  event_properties jsonb;
  ip inet;
begin
  if kind is null
     or kind not in ('delivered', 'delivery_delayed', 'bounced', 'complained', 'opened', 'clicked', 'unsubscribed') then
    raise exception using
      errcode = 'invalid_parameter_value',
      message = format('record_email_event: unknown kind %s', coalesce(quote_literal(kind), 'null')),
      hint = 'kind is one of delivered, delivery_delayed, bounced, complained, opened, clicked, unsubscribed.';
  end if;
  if jsonb_typeof(coalesce(details, '{}')) <> 'object' then
    raise exception using
      errcode = 'invalid_parameter_value',
      message = 'record_email_event: details must be a JSON object';
  end if;
  details := coalesce(details, '{}');

  select d.*
  into old_row
  from public.email_deliveries as d
  where d.id = record_email_event.delivery_id
  for update;
  if not found then
    return null;
  end if;

  new_row := old_row;
  -- A message that was never sent has no events; whatever claims otherwise is ignored.
  if old_row.status in ('suppressed', 'cancelled') and old_row.sent_at is null then
    return jsonb_build_object(
      'delivery_id', old_row.id,
      'email_campaign_id', old_row.email_campaign_id,
      'user_id', old_row.user_id,
      'lead_id', old_row.lead_id,
      'status', old_row.status,
      'changed', false,
      'suppressed', null
    );
  end if;
  case kind
    when 'delivered' then
      new_row.delivered_at := coalesce(old_row.delivered_at, happened_at);
      fact_status := 'delivered';
    when 'delivery_delayed' then
      fact_status := 'delayed';
    when 'bounced' then
      new_row.bounced_at := coalesce(old_row.bounced_at, happened_at);
      fact_status := 'bounced';
      if coalesce(details ->> 'bounce_type', 'hard') <> 'soft' then
        suppression := 'hard_bounce';
      end if;
    when 'complained' then
      new_row.complained_at := coalesce(old_row.complained_at, happened_at);
      fact_status := 'complained';
      suppression := 'complaint';
    when 'opened' then
      new_row.opened_at := coalesce(old_row.opened_at, happened_at);
      if human then
        new_row.human_opened_at := coalesce(old_row.human_opened_at, happened_at);
      end if;
      analytics_name := 'email_opened';
    when 'clicked' then
      new_row.clicked_at := coalesce(old_row.clicked_at, happened_at);
      if human then
        new_row.human_clicked_at := coalesce(old_row.human_clicked_at, happened_at);
      end if;
      analytics_name := 'email_clicked';
    when 'unsubscribed' then
      new_row.unsubscribed_at := coalesce(old_row.unsubscribed_at, happened_at);
      suppression := 'unsubscribed';
      if old_row.unsubscribed_at is null then
        analytics_name := 'email_unsubscribed';
      end if;
  end case;

  if fact_status is not null
     and old_row.status not in ('suppressed', 'cancelled')
     and (status_rank ->> fact_status)::integer > (status_rank ->> old_row.status)::integer then
    new_row.status := fact_status;
  end if;

  if new_row is distinct from old_row then
    update public.email_deliveries as d
    set status = new_row.status,
        delivered_at = new_row.delivered_at,
        bounced_at = new_row.bounced_at,
        complained_at = new_row.complained_at,
        opened_at = new_row.opened_at,
        human_opened_at = new_row.human_opened_at,
        clicked_at = new_row.clicked_at,
        human_clicked_at = new_row.human_clicked_at,
        unsubscribed_at = new_row.unsubscribed_at
    where d.id = old_row.id;
  end if;

  if suppression is not null then
    insert into public.email_suppressions (user_id, email, reason, email_campaign_id)
    values (old_row.user_id, old_row.email, suppression, old_row.email_campaign_id)
    on conflict (user_id, lower(email)) do update
    set reason = excluded.reason,
        email_campaign_id = excluded.email_campaign_id
    where public.email_suppressions.reason = 'manual';
  end if;

  if analytics_name is not null then
    event_properties := jsonb_build_object(
      'email_campaign_id', old_row.email_campaign_id,
      'lead_id', old_row.lead_id,
      'delivery_id', old_row.id,
      'machine', not human
    ) || case when kind = 'clicked' then jsonb_build_object('url', left(details ->> 'url', 2048)) else '{}' end;
    if not exists (
      select
      from public.analytics_events as a
      where a.user_id = old_row.user_id
        and a."timestamp" = happened_at
        and a.event_name = analytics_name
        and a.properties ->> 'delivery_id' = old_row.id::text
        and a.properties ->> 'url' is not distinct from event_properties ->> 'url'
    ) then
      if details ? 'ip' then
        begin
          ip := (details ->> 'ip')::inet;
        exception when invalid_text_representation then
          ip := null;
        end;
      end if;
      insert into public.analytics_events (user_id, event_type, event_name, properties, "timestamp", user_agent, ip_address)
      values (old_row.user_id, 'email', analytics_name, event_properties, happened_at, left(details ->> 'user_agent', 1000), ip);
    end if;
  end if;

  return jsonb_build_object(
    'delivery_id', old_row.id,
    'email_campaign_id', old_row.email_campaign_id,
    'user_id', old_row.user_id,
    'lead_id', old_row.lead_id,
    'status', new_row.status,
    'changed', new_row is distinct from old_row,
    'suppressed', suppression
  );
end;
$$;

drop function private.retry_email_unsubscribe_effects(integer);
drop function private.write_email_delivery_facts(public.email_deliveries);
drop function private.restart_email_unsubscribe_workflows(uuid);
drop function private.log_email_event(public.email_deliveries, text, timestamptz, boolean, jsonb);
comment on function private.record_email_event(text, uuid, timestamptz, boolean, jsonb) is
  'Records a provider or tracking event on a delivery (once per fact), suppresses the address where due, logs analytics; null for an unknown delivery.';
