-- One lead per owner per email, case-insensitively, as something clients can target: the
-- normalised address is a column the database keeps (generated, so nobody writes it) and the
-- uniqueness is a constraint on (user_id, email_normalized), so
--   supabase.from('leads').upsert(rows, { onConflict: 'user_id,email_normalized' })
-- and `insert ... on conflict (user_id, email_normalized) do update` work. It replaces the
-- unique index on (user_id, lower(email)) and keeps its name, so the message for a duplicate
-- is unchanged. The email check admits no whitespace, so lower(btrim(email)) = lower(email)
-- for every row: existing rows cannot collide. A plain index on (user_id, lower(email)) stays
-- for the functions that still look leads up by lower(email) (fan-out, engagement scoring).
-- private.collect_events, which created leads with `on conflict (user_id, lower(email))`,
-- names the new target (that inference needs a unique index on the expression).
--
-- rollback_check: rows through public.leads

alter table public.leads
  add column email_normalized text generated always as (lower(btrim(email))) stored;
comment on column public.leads.email_normalized is
  'lower(btrim(email)), kept by the database; with user_id the upsert target (constraint leads_user_id_email_key).';

drop index public.leads_user_id_email_key;
alter table public.leads
  add constraint leads_user_id_email_key unique (user_id, email_normalized);
create index leads_user_id_lower_email_idx on public.leads (user_id, lower(email));
comment on table public.leads is
  'Leads (contacts) per user; unique by email_normalized (lower(btrim(email))) per user; score is system-maintained.';

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
  if settings.create_leads then
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

  return jsonb_build_object('accepted', total, 'duplicates', total - inserted, 'dropped', 0,
    'honor_privacy_signals', settings.honor_privacy_signals);
end;
$$;
