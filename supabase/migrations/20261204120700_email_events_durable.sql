-- private.record_email_event, made safe for many tenants (the rest of its contract is that of
-- 20261125131200_email_events.sql):
--
-- * An unsubscribe is never lost. The suppression is written first, then the delivery's
--   unsubscribed_at; the side effects (email_event workflows started by the delivery's
--   change, the analytics event and the scoring and event workflows it sets off) run in
--   subtransactions. When one fails, the unsubscribe stands and what is left waits in
--   private.email_unsubscribe_effects for the email tick to retry
--   (private.retry_email_unsubscribe_effects).
-- * A delivery whose campaign was deleted still unsubscribes through its key in
--   private.email_unsubscribe_keys (kept 60 days): the address is suppressed.
-- * Opens and clicks write one analytics row per delivery, event and window of an hour
--   (machines apart, see private.email_event_windows); repeats in the window raise the row's
--   properties.count instead, so they earn no further score and start no further workflow.

-- The analytics_events row of an email event; returns its id.
create function private.log_email_event(
  delivery public.email_deliveries,
  event_name text,
  happened_at timestamptz,
  human boolean,
  details jsonb
)
returns uuid
language plpgsql
set search_path = ''
as $$
declare
  ip inet;
  logged_id uuid;
begin
  if details ? 'ip' then
    begin
      ip := (details ->> 'ip')::inet;
    exception when invalid_text_representation then
      ip := null;
    end;
  end if;
  insert into public.analytics_events (user_id, event_type, event_name, properties, "timestamp", user_agent, ip_address)
  values (
    delivery.user_id,
    'email',
    event_name,
    jsonb_build_object(
      'email_campaign_id', delivery.email_campaign_id,
      'lead_id', delivery.lead_id,
      'delivery_id', delivery.id,
      'machine', not human
    )
    || case when event_name = 'email_clicked' then jsonb_build_object('url', left(details ->> 'url', 2048)) else '{}' end
    || case when event_name in ('email_opened', 'email_clicked') then '{"count": 1}'::jsonb else '{}' end,
    happened_at,
    left(details ->> 'user_agent', 1000),
    ip
  )
  returning id into logged_id;
  return logged_id;
end;
$$;
comment on function private.log_email_event(public.email_deliveries, text, timestamptz, boolean, jsonb) is
  'Writes the analytics_events row (event_type email) of an open, click or unsubscribe of a delivery; returns its id.';

-- Starts, again, the email_event workflows of a delivery's unsubscribe whose first start
-- failed: unsubscribed_at is taken back with the workflows' trigger skipped and set again
-- with it, so the trigger sees the change it missed. Run in a subtransaction.
create function private.restart_email_unsubscribe_workflows(delivery_id uuid)
returns void
language plpgsql
set search_path = ''
as $$
declare
  unsubscribed timestamptz;
begin
  select d.unsubscribed_at
  into unsubscribed
  from public.email_deliveries as d
  where d.id = restart_email_unsubscribe_workflows.delivery_id
  for update;
  if unsubscribed is null then
    return;
  end if;
  perform set_config('beacon.email_event_workflows', 'deferred', true);
  update public.email_deliveries as d
  set unsubscribed_at = null
  where d.id = restart_email_unsubscribe_workflows.delivery_id;
  perform set_config('beacon.email_event_workflows', '', true);
  update public.email_deliveries as d
  set unsubscribed_at = unsubscribed
  where d.id = restart_email_unsubscribe_workflows.delivery_id;
end;
$$;
comment on function private.restart_email_unsubscribe_workflows(uuid) is
  'Retry of an unsubscribe''s email_event workflows: makes the delivery''s unsubscribe visible to their trigger again.';

create function private.write_email_delivery_facts(delivery public.email_deliveries)
returns void
language sql
set search_path = ''
as $$
  update public.email_deliveries as d
  set status = delivery.status,
      delivered_at = delivery.delivered_at,
      bounced_at = delivery.bounced_at,
      complained_at = delivery.complained_at,
      opened_at = delivery.opened_at,
      human_opened_at = delivery.human_opened_at,
      clicked_at = delivery.clicked_at,
      human_clicked_at = delivery.human_clicked_at,
      unsubscribed_at = delivery.unsubscribed_at
  where d.id = delivery.id
$$;
comment on function private.write_email_delivery_facts(public.email_deliveries) is
  'Writes the event facts (status and the *_at stamps) of a delivery row computed by record_email_event.';

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
  key_row private.email_unsubscribe_keys;
  open_window private.email_event_windows;
  logged_id uuid;
  repeats integer;
  effects_error text;
  workflows_pending boolean := false;
  analytics_pending boolean := false;
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
    -- The campaign was deleted after sending: its unsubscribe links still work.
    if kind = 'unsubscribed' then
      select k.*
      into key_row
      from private.email_unsubscribe_keys as k
      where k.delivery_id = record_email_event.delivery_id
        and k.kept_until > now()
      for update;
      if found then
        insert into public.email_suppressions (user_id, email, reason)
        values (key_row.user_id, key_row.email, 'unsubscribed')
        on conflict (user_id, lower(email)) do update
        set reason = excluded.reason
        where public.email_suppressions.reason = 'manual';
        update private.email_unsubscribe_keys as k
        set unsubscribed_at = happened_at
        where k.delivery_id = key_row.delivery_id
          and k.unsubscribed_at is null;
        return jsonb_build_object(
          'delivery_id', key_row.delivery_id,
          'email_campaign_id', null,
          'user_id', key_row.user_id,
          'lead_id', null,
          'status', null,
          'changed', key_row.unsubscribed_at is null,
          'suppressed', 'unsubscribed'
        );
      end if;
    end if;
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

  -- The suppression first: for an unsubscribe it is the promise, and nothing below undoes it.
  if suppression is not null then
    insert into public.email_suppressions (user_id, email, reason, email_campaign_id)
    values (old_row.user_id, old_row.email, suppression, old_row.email_campaign_id)
    on conflict (user_id, lower(email)) do update
    set reason = excluded.reason,
        email_campaign_id = excluded.email_campaign_id
    where public.email_suppressions.reason = 'manual';
  end if;

  if new_row is distinct from old_row then
    if kind = 'unsubscribed' then
      begin
        perform private.write_email_delivery_facts(new_row);
      exception when others then
        -- An email_event workflow of the owner's failed: record the unsubscribe without it.
        get stacked diagnostics effects_error = message_text;
        perform set_config('beacon.email_event_workflows', 'deferred', true);
        perform private.write_email_delivery_facts(new_row);
        perform set_config('beacon.email_event_workflows', '', true);
        workflows_pending := true;
      end;
    else
      perform private.write_email_delivery_facts(new_row);
    end if;
  end if;

  -- The same event again (same kind, time and URL, e.g. a replayed webhook) adds nothing.
  if analytics_name is not null and not exists (
    select
    from public.analytics_events as a
    where a.user_id = old_row.user_id
      and a."timestamp" = happened_at
      and a.event_name = analytics_name
      and a.properties ->> 'delivery_id' = old_row.id::text
      and a.properties ->> 'url' is not distinct from
          case when kind = 'clicked' then left(details ->> 'url', 2048) end
  ) then
    if kind = 'unsubscribed' then
      begin
        perform private.log_email_event(old_row, analytics_name, happened_at, human, details);
      exception when others then
        -- A scoring rule or event workflow of the owner's failed: the unsubscribe stands.
        get stacked diagnostics effects_error = message_text;
        analytics_pending := true;
      end;
    else
      select w.*
      into open_window
      from private.email_event_windows as w
      where w.delivery_id = old_row.id
        and w.event_name = analytics_name
        and w.machine = not human
      for update;
      if found and happened_at < open_window.started_at + interval '1 hour' then
        update private.email_event_windows as w
        set count = least(w.count, 2147483646) + 1
        where w.delivery_id = old_row.id
          and w.event_name = analytics_name
          and w.machine = not human
        returning w.count into repeats;
        update public.analytics_events as a
        set properties = a.properties || jsonb_build_object('count', repeats)
        where a.id = open_window.analytics_event_id
          and a.user_id = old_row.user_id;
      else
        logged_id := private.log_email_event(old_row, analytics_name, happened_at, human, details);
        insert into private.email_event_windows as w (delivery_id, event_name, machine, started_at, analytics_event_id)
        values (old_row.id, analytics_name, not human, happened_at, logged_id)
        on conflict on constraint email_event_windows_pkey do update
        set started_at = excluded.started_at,
            analytics_event_id = excluded.analytics_event_id,
            count = 1;
      end if;
    end if;
  end if;

  if workflows_pending or analytics_pending then
    insert into private.email_unsubscribe_effects (
      delivery_id, user_id, occurred_at, details, machine, workflows_pending, analytics_pending, last_error, run_after
    )
    values (
      old_row.id, old_row.user_id, happened_at, details, not human, workflows_pending, analytics_pending,
      left(effects_error, 2000), now() + interval '1 minute'
    )
    on conflict on constraint email_unsubscribe_effects_pkey do nothing;
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

-- The email tick's step for unsubscribes whose side effects failed: each is retried in a
-- subtransaction of its own (workflows and analytics apart, so one that succeeds is not
-- repeated); a failure waits 2^attempts minutes, and after 10 attempts the row stays, with
-- its last error, for a person to read.
create function private.retry_email_unsubscribe_effects(max_rows integer default 100)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  effect private.email_unsubscribe_effects;
  workflows_left boolean;
  analytics_left boolean;
  problem text;
  done integer := 0;
begin
  for effect in
    select e.*
    from private.email_unsubscribe_effects as e
    where e.attempts < 10
      and e.run_after <= now()
    order by e.run_after
    limit max_rows
    for update skip locked
  loop
    workflows_left := effect.workflows_pending;
    analytics_left := effect.analytics_pending;
    problem := null;
    if workflows_left then
      begin
        perform private.restart_email_unsubscribe_workflows(effect.delivery_id);
        workflows_left := false;
      exception when others then
        get stacked diagnostics problem = message_text;
      end;
    end if;
    if analytics_left then
      begin
        perform private.log_email_event(d, 'email_unsubscribed', effect.occurred_at, not effect.machine, effect.details)
        from public.email_deliveries as d
        where d.id = effect.delivery_id;
        analytics_left := false;
      exception when others then
        get stacked diagnostics problem = message_text;
      end;
    end if;
    if workflows_left or analytics_left then
      update private.email_unsubscribe_effects as e
      set workflows_pending = workflows_left,
          analytics_pending = analytics_left,
          attempts = e.attempts + 1,
          last_error = left(problem, 2000),
          run_after = now() + make_interval(mins => (2 ^ least(e.attempts, 10))::integer)
      where e.delivery_id = effect.delivery_id;
    else
      delete from private.email_unsubscribe_effects as e
      where e.delivery_id = effect.delivery_id;
      done := done + 1;
    end if;
  end loop;
  return done;
end;
$$;
comment on function private.retry_email_unsubscribe_effects(integer) is
  'Email tick step: retries the failed side effects of unsubscribes (workflows, analytics and scoring); returns how many are now done.';

revoke all on function
  private.log_email_event(public.email_deliveries, text, timestamptz, boolean, jsonb),
  private.restart_email_unsubscribe_workflows(uuid),
  private.write_email_delivery_facts(public.email_deliveries),
  private.retry_email_unsubscribe_effects(integer)
from public, anon, authenticated, service_role;

comment on function private.record_email_event(text, uuid, timestamptz, boolean, jsonb) is
  'Records a provider or tracking event on a delivery (once per fact), suppresses the address where due (an unsubscribe first, '
  'whatever its side effects do), logs opens and clicks once per hour per delivery; null for an unknown delivery.';
