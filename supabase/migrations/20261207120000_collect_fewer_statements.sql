-- Collecting a batch of page views and tracks runs fewer statements, each of which fired
-- statement triggers even when it wrote nothing (scripts/bench ingest, the HTTP path's share of
-- the in-database rate):
--   * private.collect_events runs its identity steps (leads for new emails, links, attribution
--     of earlier events, first touch) only for a batch that holds an identify, and the
--     attribution and first-touch updates only when a visitor was linked;
--   * private.award_engagement ends at once when no active event rule of the events' owners
--     exists, instead of updating no leads (which ran the leads' statement triggers).
-- Behaviour is unchanged: every skipped statement would have changed no row.

create or replace function private.collect_events(
  write_key text,
  events jsonb,
  client_ip inet,
  client_user_agent text,
  privacy_signal boolean
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  owner uuid;
  settings record;
  total integer := jsonb_array_length(events);
  inserted integer;
  identified uuid[];
  -- Most requests are page views and tracks: the identity steps (and the statement triggers
  -- their writes fire, even on no rows) run only for a batch that holds an identify.
  has_identify boolean := jsonb_path_exists(events, '$[*] ? (@.type == "identify")');
begin
  owner := private.write_key_owner(write_key);
  if owner is null then
    raise exception using
      errcode = 'invalid_authorization_specification',
      message = 'collect: the write key is unknown or revoked';
  end if;

  select coalesce(s.create_leads, true) as create_leads,
         coalesce(s.truncate_ip, false) as truncate_ip,
         coalesce(s.honor_privacy_signals, false) as honor_privacy_signals
  into settings
  from (select) as one
  left join public.collect_settings as s on s.user_id = owner;

  if privacy_signal and settings.honor_privacy_signals then
    return jsonb_build_object('accepted', 0, 'duplicates', 0, 'dropped', total, 'honor_privacy_signals', true);
  end if;

  -- 2. Leads for new emails.
  if has_identify and settings.create_leads then
    insert into public.leads (user_id, email, source, first_name, last_name, company)
    select distinct on (lower(e.email))
      owner, e.email, 'website',
      nullif(left(e.properties ->> 'first_name', 200), ''),
      nullif(left(e.properties ->> 'last_name', 200), ''),
      nullif(left(e.properties ->> 'company', 200), '')
    from jsonb_to_recordset(events) as e (type text, email text, lead_id uuid, properties jsonb)
    where e.type = 'identify'
      and e.email is not null
      and not exists (
        select from public.leads as l where l.id = e.lead_id and l.user_id = owner)
    order by lower(e.email)
    on conflict (user_id, email_normalized) do nothing;
  end if;

  -- 3. Links, and the visitors' earlier events attributed.
  if has_identify then
    with identifies as (
      select distinct on (e.anonymous_id) e.anonymous_id, coalesce(by_id.id, by_email.id) as lead_id
      from jsonb_array_elements(events) with ordinality as a (event, n)
      cross join lateral jsonb_to_record(a.event) as e (type text, anonymous_id text, email text, lead_id uuid)
      left join public.leads as by_id on by_id.id = e.lead_id and by_id.user_id = owner
      left join public.leads as by_email on by_email.email_normalized = lower(btrim(e.email)) and by_email.user_id = owner
      where e.type = 'identify'
        and e.anonymous_id is not null
        and coalesce(by_id.id, by_email.id) is not null
      order by e.anonymous_id, a.n desc
    ),
    linked as (
      insert into private.visitor_identities as v (user_id, anonymous_id, lead_id)
      select owner, i.anonymous_id, i.lead_id
      from identifies as i
      on conflict (user_id, anonymous_id) do update
      set lead_id = excluded.lead_id, identified_at = now()
      returning v.lead_id
    )
    select array_agg(distinct l.lead_id) into identified from linked as l;
  end if;

  if identified is not null then
    -- Only this update scores and matches the events it touches (see visitor_identities).
    perform set_config('beacon.event_attribution', 'on', true);
    update public.analytics_events as a
    set properties = a.properties || jsonb_build_object('lead_id', v.lead_id)
    from private.visitor_identities as v
    where v.user_id = owner
      and v.lead_id = any(identified)
      and a.user_id = owner
      and a.anonymous_id = v.anonymous_id
      and private.event_lead_id(a.user_id, a.properties) is null;
    perform set_config('beacon.event_attribution', 'off', true);
  end if;

  -- 4. The events. Message ids are claimed first (private.analytics_event_messages, the
  -- first event of a batch wins); an event whose id is claimed already is a duplicate.
  with incoming as materialized (
    select
      e.*,
      gen_random_uuid() as id,
      case when e.clamped then now() else e.sent_at end as at
    from (
      select
        e.*,
        a.n,
        coalesce(e."timestamp", now()) as sent_at,
        e."timestamp" is not null
          and (e."timestamp" < now() - interval '7 days' or e."timestamp" > now() + interval '5 minutes') as clamped
      from jsonb_array_elements(events) with ordinality as a (event, n)
      cross join lateral jsonb_to_record(a.event) as e (
        type text, event text, properties jsonb, anonymous_id text, email text, lead_id uuid,
        "timestamp" timestamptz, message_id text)
    ) as e
  ),
  claimed as (
    insert into private.analytics_event_messages as m (user_id, message_id, event_id, "timestamp")
    select distinct on (i.message_id) owner, i.message_id, i.id, i.at
    from incoming as i
    where i.message_id is not null
    order by i.message_id, i.n
    on conflict (user_id, message_id) do nothing
    returning m.event_id
  ),
  saved as (
    insert into public.analytics_events as a (
      id, user_id, event_type, event_name, properties, "timestamp", user_agent, ip_address, anonymous_id, message_id)
    select
      i.id,
      owner,
      i.type,
      coalesce(i.event, case i.type when 'page' then 'page_view' else i.type end),
      coalesce(i.properties, '{}')
        || jsonb_strip_nulls(jsonb_build_object(
          'email', i.email,
          'lead_id', coalesce(i.lead_id, case when i.email is null then v.lead_id end),
          'timestamp_clamped', case when i.clamped then to_jsonb(i."timestamp") end)),
      i.at,
      left(client_user_agent, 1000),
      case when settings.truncate_ip and client_ip is not null
        then host(network(set_masklen(client_ip, case family(client_ip) when 4 then 24 else 48 end)))::inet
        else client_ip end,
      i.anonymous_id,
      i.message_id
    from incoming as i
    left join private.visitor_identities as v on v.user_id = owner and v.anonymous_id = i.anonymous_id
    where i.message_id is null or i.id in (select c.event_id from claimed as c)
    returning 1
  )
  select count(*) into inserted from saved;

  -- 5. First touch.
  if identified is not null then
    update public.leads as l
    set custom_fields = l.custom_fields || jsonb_build_object('first_touch', t.touch)
    from (
      select distinct on (v.lead_id) v.lead_id,
        jsonb_strip_nulls(jsonb_build_object(
          'utm_source', a.properties -> 'utm_source', 'utm_medium', a.properties -> 'utm_medium',
          'utm_campaign', a.properties -> 'utm_campaign', 'utm_term', a.properties -> 'utm_term',
          'utm_content', a.properties -> 'utm_content', 'url', a.properties -> 'url',
          'referrer', a.properties -> 'referrer', 'at', to_jsonb(a."timestamp"))) as touch
      from private.visitor_identities as v
      join public.analytics_events as a on a.user_id = owner and a.anonymous_id = v.anonymous_id
      where v.user_id = owner
        and v.lead_id = any(identified)
        and a.event_type = 'page'
        and a.properties ?| array['utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content']
      order by v.lead_id, a."timestamp", a.id
    ) as t
    where l.id = t.lead_id
      and not l.custom_fields ? 'first_touch';
  end if;

  return jsonb_build_object('accepted', total, 'duplicates', total - inserted, 'dropped', 0,
    'honor_privacy_signals', settings.honor_privacy_signals);
end;
$$;

create or replace function private.award_engagement()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- Most owners' events match no engagement rule: end before the statement below, whose
  -- update of leads would fire their statement triggers even on no rows.
  if not exists (
    select
    from public.scoring_rules as r
    where r.user_id in (select e.user_id from new_events as e)
      and r.is_active
      and r.condition ->> 'type' = 'event'
  ) then
    return null;
  end if;
  perform set_config('beacon.trusted_score_write', 'on', true);
  with hits as (
    select
      e.id as event_id,
      e.user_id,
      e.event_type,
      e.event_name,
      e."timestamp",
      r.id as rule_id,
      r.name,
      r.points,
      private.jsonb_integer(r.condition -> 'cap') as cap,
      r.condition ->> 'period' as period,
      private.event_lead_id(e.user_id, e.properties) as lead_id
    from new_events as e
    join public.scoring_rules as r
      on r.user_id = e.user_id
     and r.is_active
     and r.condition ->> 'type' = 'event'
    where (r.condition ->> 'event_type' is null or r.condition ->> 'event_type' = e.event_type)
      and (r.condition ->> 'event_name' is null or r.condition ->> 'event_name' = e.event_name)
      and (r.condition -> 'properties' is null or e.properties @> (r.condition -> 'properties'))
  ),
  tallied as (
    select
      h.*,
      -- Points this rule already gave this lead in the current period.
      case when h.cap is not null then coalesce((
        select abs(sum(g.points))
        from public.lead_score_ledger as g
        where g.lead_id = h.lead_id
          and g.rule_id = h.rule_id
          and g.source = 'event'
          and g.created_at >= date_trunc(h.period, now(), 'UTC')
      ), 0) end as earned,
      row_number() over (partition by h.lead_id, h.rule_id order by h."timestamp", h.event_id) as n
    from hits as h
    where h.lead_id is not null
  ),
  awards as materialized (
    select
      t.*,
      case
        when t.cap is null then t.points
        else sign(t.points)::integer * (
          least(t.n * abs(t.points), greatest(t.cap - t.earned, 0))
          - least((t.n - 1) * abs(t.points), greatest(t.cap - t.earned, 0))
        )::integer
      end as award
    from tallied as t
  ),
  -- Each award in the order of the events, as far as the lead's score may still go: what
  -- the lead's score would be before and after it, each kept within the bounds.
  running as materialized (
    select
      a.*,
      l.score + sum(a.award) over w - a.award as score_before,
      l.score + sum(a.award) over w as score_after
    from awards as a
    join public.leads as l on l.id = a.lead_id
    where a.award <> 0
    window w as (partition by a.lead_id order by a."timestamp", a.event_id, a.rule_id)
  ),
  bounded as materialized (
    select
      r.*,
      (least(greatest(r.score_after, -100000), 100000) - least(greatest(r.score_before, -100000), 100000))::integer
        as applied
    from running as r
  ),
  ledgered as (
    insert into public.lead_score_ledger (user_id, lead_id, points, source, reason, rule_id, event_id)
    select b.user_id, b.lead_id, b.applied, 'event',
           b.name || ': ' || b.event_type || '/' || b.event_name
             || case when b.applied <> b.award then ' (kept within -100000 to 100000)' else '' end,
           b.rule_id, b.event_id
    from bounded as b
    where b.applied <> 0
  ),
  totals as materialized (
    select b.lead_id, b.user_id, sum(b.applied)::integer as points
    from bounded as b
    group by b.lead_id, b.user_id
    having sum(b.applied) <> 0
  ),
  engaged as (
    insert into private.lead_engagement as g (lead_id, user_id, points)
    select t.lead_id, t.user_id, t.points
    from totals as t
    on conflict (lead_id) do update
    set points = g.points + excluded.points
  )
  update public.leads as l
  set score = l.score + t.points
  from totals as t
  where l.id = t.lead_id;
  perform set_config('beacon.trusted_score_write', '', true);
  return null;
end;
$$;
