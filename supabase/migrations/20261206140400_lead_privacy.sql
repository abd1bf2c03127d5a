-- Privacy: public.export_lead_data(lead_id) returns everything Beacon holds about one of the
-- caller's leads as JSON; public.erase_lead(lead_id) deletes the lead with its events, email
-- deliveries, suppressions, consents, list memberships, workflow executions and identities,
-- and keeps only a hash of its address (private.erased_addresses, the hashed part of the
-- suppression list), so that the address, imported or posted again, is unsubscribed from the
-- start and never sent to: lead creation (private.set_lead_subscription) and recipient
-- resolution (explicit addresses) check the hash.

create table private.erased_addresses (
  user_id uuid not null references auth.users (id) on delete cascade,
  address_hash bytea not null,
  erased_at timestamptz not null default now(),
  primary key (user_id, address_hash)
);
comment on table private.erased_addresses is
  'Addresses of erased leads, as private.address_hash only: never sent to again, and a lead created on one starts unsubscribed.';
revoke all on table private.erased_addresses from public, anon, authenticated, service_role;

create function private.address_hash(owner uuid, address text)
returns bytea
language sql
immutable
set search_path = ''
as $$
  select sha256(convert_to(owner::text || ':' || lower(btrim(address)), 'UTF8'))
$$;
comment on function private.address_hash(uuid, text) is
  'SHA-256 of an owner''s normalised email address (owner id salted), as private.erased_addresses keeps it.';
revoke all on function private.address_hash(uuid, text) from public, anon, authenticated, service_role;

-- private.set_lead_subscription as 20261206140000_leads_subscription_status.sql defined it,
-- plus erased addresses (the commented piece); security definer now, to read them.
create or replace function private.set_lead_subscription()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if exists (
    select
    from public.email_suppressions as s
    where s.user_id = new.user_id
      and lower(s.email) = lower(btrim(new.email))
      and s.reason in ('unsubscribed', 'complaint')
  ) or exists (
    -- Privacy: an address whose lead was erased is never sent to again.
    select
    from private.erased_addresses as z
    where z.user_id = new.user_id
      and z.address_hash = private.address_hash(new.user_id, new.email)
  ) then
    new.subscription_status := 'unsubscribed';
  end if;
  if tg_op = 'INSERT' or new.subscription_status is distinct from old.subscription_status then
    new.subscription_changed_at := now();
  else
    new.subscription_changed_at := old.subscription_changed_at;
  end if;
  return new;
end;
$$;

-- private.resolve_email_recipients as 20261206140300_double_opt_in.sql defined it, plus erased
-- addresses (the commented piece).
create or replace function private.resolve_email_recipients(owner uuid, recipient_list jsonb)
returns table (email text, lead_id uuid, first_name text, last_name text, merge_data jsonb)
language sql
stable
set search_path = ''
as $$
  with entries as (
    select e.entry, e.n
    from jsonb_array_elements(recipient_list) with ordinality as e (entry, n)
  ),
  explicit as (
    select distinct on (lower(r.email))
      lower(r.email) as address, r.email, r.first_name, r.last_name, r.data
    from entries as e
    cross join lateral (
      select
        btrim(case when jsonb_typeof(e.entry) = 'string' then e.entry #>> '{}' else e.entry ->> 'email' end) as email,
        case when jsonb_typeof(e.entry) = 'object' then e.entry ->> 'first_name' end as first_name,
        case when jsonb_typeof(e.entry) = 'object' then e.entry ->> 'last_name' end as last_name,
        case when jsonb_typeof(e.entry) = 'object' then e.entry -> 'data' end as data
    ) as r
    where jsonb_typeof(e.entry) = 'string' or e.entry ? 'email'
    order by lower(r.email), e.n
  ),
  -- A criterion that is absent is null (matches every lead); an empty list matches none.
  selectors as (
    select
      case when s ? 'ids' then array(select x::uuid from jsonb_array_elements_text(s -> 'ids') as x) end as ids,
      case when s ? 'tags' then array(select x from jsonb_array_elements_text(s -> 'tags') as x) end as tags,
      case when s ? 'statuses' then array(select x from jsonb_array_elements_text(s -> 'statuses') as x) end
        as statuses,
      private.jsonb_integer(s -> 'min_score') as min_score
    from entries as e
    cross join lateral (select e.entry -> 'leads' as s) as sel
    where jsonb_typeof(e.entry) = 'object' and e.entry ? 'leads'
  ),
  -- The ids of the leads that lead selectors and lists pick.
  picked as (
    select l.id
    from public.leads as l
    where exists (select from selectors)
      and l.user_id = owner
      and exists (
        select
        from selectors as s
        where (s.ids is null or l.id = any (s.ids))
          and (s.tags is null or l.tags && s.tags)
          and (s.statuses is null or l.status = any (s.statuses))
          and (s.min_score is null or l.score >= s.min_score)
      )
    union
    -- Lists: the members of each {"list": id} who have not left it.
    select m.lead_id
    from public.list_memberships as m
    where m.user_id = owner
      and m.unsubscribed_at is null
      and m.list_id in (
        select (e.entry ->> 'list')::uuid
        from entries as e
        where jsonb_typeof(e.entry) = 'object' and e.entry ? 'list')
  ),
  selected as (
    select lower(l.email) as address, l.id, l.email, l.first_name, l.last_name, l.company, l.custom_fields
    from public.leads as l
    where l.user_id = owner
      and l.id in (select p.id from picked as p)
      -- Subscription: only subscribed leads receive campaign email. One whose address is
      -- suppressed stays, so that fan-out records its delivery as suppressed (as before).
      and (l.subscription_status = 'subscribed'
           or exists (
             select
             from public.email_suppressions as u
             where u.user_id = owner and lower(u.email) = l.email_normalized))
    union
    -- Confirmations (double opt-in): the lead a confirmation email asks, while unconfirmed.
    select lower(l.email) as address, l.id, l.email, l.first_name, l.last_name, l.company, l.custom_fields
    from public.leads as l
    where l.user_id = owner
      and l.subscription_status = 'unconfirmed'
      and l.id in (
        select (e.entry ->> 'confirm')::uuid
        from entries as e
        where jsonb_typeof(e.entry) = 'object' and e.entry ? 'confirm')
  ),
  -- Explicit entries with the owner's lead of the same address, selected or not.
  explicit_leads as (
    select
      x.*,
      l.id as lead_id,
      l.email as lead_email,
      l.first_name as lead_first_name,
      l.last_name as lead_last_name,
      l.company as lead_company,
      l.custom_fields as lead_custom_fields,
      l.subscription_status as lead_subscription_status
    from explicit as x
    left join public.leads as l on l.user_id = owner and lower(l.email) = x.address
  )
  select
    coalesce(s.email, x.lead_email, x.email),
    coalesce(s.id, x.lead_id),
    coalesce(s.first_name, x.lead_first_name, x.first_name),
    coalesce(s.last_name, x.lead_last_name, x.last_name),
    coalesce(x.data, '{}')
      || jsonb_strip_nulls(jsonb_build_object('company', coalesce(s.company, x.lead_company)))
      || coalesce(s.custom_fields, x.lead_custom_fields, '{}')
  from explicit_leads as x
  full join selected as s on s.address = x.address
  -- Subscription: an explicit address whose lead is unconfirmed or unsubscribed gets nothing
  -- (a suppressed one stays, recorded as suppressed by fan-out).
  where (x.lead_subscription_status is null
         or x.lead_subscription_status = 'subscribed'
         or exists (
           select
           from public.email_suppressions as u
           where u.user_id = owner and lower(u.email) = x.address))
    -- Privacy: an explicit address whose lead was erased (public.erase_lead) gets nothing.
    and (x.address is null
         or x.lead_id is not null
         or not exists (
           select
           from private.erased_addresses as z
           where z.user_id = owner and z.address_hash = private.address_hash(owner, x.address)))
$$;

-- The erasure itself, on the delete public.erase_lead makes (beacon.erase_lead on): every row
-- that names the erased leads' addresses goes, and their hashes are kept. Security definer:
-- deliveries, suppressions and identities are not the owner's to delete.
create function private.erase_deleted_leads()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if current_setting('beacon.erase_lead', true) is distinct from 'on' then
    return null;
  end if;
  delete from public.analytics_events as a
  using erased_leads as l
  where a.user_id = l.user_id
    and (a.properties ->> 'lead_id' = l.id::text or lower(a.properties ->> 'email') = l.email_normalized);
  insert into private.email_metrics_stale (email_campaign_id)
  select distinct d.email_campaign_id
  from public.email_deliveries as d
  join erased_leads as l on d.user_id = l.user_id and lower(d.email) = l.email_normalized;
  delete from public.email_deliveries as d
  using erased_leads as l
  where d.user_id = l.user_id and lower(d.email) = l.email_normalized;
  delete from private.email_unsubscribe_keys as k
  using erased_leads as l
  where k.user_id = l.user_id and lower(k.email) = l.email_normalized;
  delete from public.email_suppressions as s
  using erased_leads as l
  where s.user_id = l.user_id and lower(s.email) = l.email_normalized;
  delete from public.workflow_executions as e
  using erased_leads as l
  where e.user_id = l.user_id and e.trigger_data ->> 'lead_id' = l.id::text;
  insert into private.erased_addresses (user_id, address_hash)
  select l.user_id, private.address_hash(l.user_id, l.email_normalized)
  from erased_leads as l
  on conflict (user_id, address_hash) do nothing;
  return null;
end;
$$;
comment on function private.erase_deleted_leads() is
  'Trigger (after delete on leads, per statement; only under public.erase_lead): deletes the erased leads'' events, deliveries, suppressions, unsubscribe keys and workflow executions, keeps their address hashes.';
revoke all on function private.erase_deleted_leads() from public, anon, authenticated, service_role;

create trigger erase_deleted_leads
after delete on public.leads
referencing old table as erased_leads
for each statement execute function private.erase_deleted_leads();

create function public.erase_lead(lead_id uuid)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  address text;
begin
  select l.email_normalized into address from public.leads as l where l.id = erase_lead.lead_id;
  if address is null then
    raise exception using
      errcode = 'no_data_found',
      message = format('erase_lead: you have no lead %s', lead_id);
  end if;
  perform set_config('beacon.erase_lead', 'on', true);
  delete from public.leads as l where l.id = erase_lead.lead_id;
  perform set_config('beacon.erase_lead', '', true);
  return jsonb_build_object('erased', lead_id, 'address_kept_as_hash', true);
end;
$$;
comment on function public.erase_lead(uuid) is
  'Erases one of the caller''s leads: deletes it with its events, deliveries, suppressions, consents, memberships and workflow executions; keeps only a hash of its address, so it is never sent to again.';
revoke all on function public.erase_lead(uuid) from public, anon;
grant execute on function public.erase_lead(uuid) to authenticated, service_role;

create function public.export_lead_data(lead_id uuid)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  lead public.leads;
  result jsonb;
begin
  select l.* into lead from public.leads as l where l.id = export_lead_data.lead_id;
  if lead.id is null then
    raise exception using
      errcode = 'no_data_found',
      message = format('export_lead_data: you have no lead %s', lead_id);
  end if;
  select jsonb_build_object(
    'exported_at', now(),
    'lead', to_jsonb(lead) - 'user_id',
    'consents', coalesce((
      select jsonb_agg(to_jsonb(c) - 'user_id' - 'lead_id' order by c.created_at)
      from public.consents as c where c.lead_id = lead.id), '[]'),
    'lists', coalesce((
      select jsonb_agg(jsonb_build_object('list', li.name, 'subscribed_at', m.subscribed_at,
                                          'unsubscribed_at', m.unsubscribed_at) order by li.name)
      from public.list_memberships as m join public.lists as li on li.id = m.list_id
      where m.lead_id = lead.id), '[]'),
    'email_deliveries', coalesce((
      select jsonb_agg(jsonb_build_object('email_campaign_id', d.email_campaign_id, 'subject', c.subject,
                                          'email', d.email, 'status', d.status, 'sent_at', d.sent_at,
                                          'opened_at', d.opened_at, 'clicked_at', d.clicked_at,
                                          'unsubscribed_at', d.unsubscribed_at) order by d.created_at)
      from public.email_deliveries as d join public.email_campaigns as c on c.id = d.email_campaign_id
      where d.user_id = lead.user_id and lower(d.email) = lead.email_normalized), '[]'),
    'suppressions', coalesce((
      select jsonb_agg(jsonb_build_object('email', s.email, 'reason', s.reason, 'created_at', s.created_at))
      from public.email_suppressions as s
      where s.user_id = lead.user_id and lower(s.email) = lead.email_normalized), '[]'),
    'events', coalesce((
      select jsonb_agg(to_jsonb(a) - 'user_id' order by a."timestamp")
      from public.analytics_events as a
      where a.user_id = lead.user_id
        and (a.properties ->> 'lead_id' = lead.id::text or lower(a.properties ->> 'email') = lead.email_normalized)),
      '[]'),
    'score_ledger', coalesce((
      select jsonb_agg(jsonb_build_object('points', g.points, 'source', g.source, 'reason', g.reason,
                                          'created_at', g.created_at) order by g.created_at)
      from public.lead_score_ledger as g where g.lead_id = lead.id), '[]'),
    'status_history', coalesce((
      select jsonb_agg(to_jsonb(h) - 'user_id' - 'lead_id' order by h.changed_at)
      from public.lead_status_history as h where h.lead_id = lead.id), '[]'),
    'workflow_executions', coalesce((
      select jsonb_agg(jsonb_build_object('workflow', w.name, 'status', e.status, 'started_at', e.started_at,
                                          'completed_at', e.completed_at) order by e.started_at)
      from public.workflow_executions as e join public.workflows as w on w.id = e.workflow_id
      where e.user_id = lead.user_id and e.trigger_data ->> 'lead_id' = lead.id::text), '[]')
  )
  into result;
  return result;
end;
$$;
comment on function public.export_lead_data(uuid) is
  'Everything held about one of the caller''s leads, as JSON: the lead, consents, lists, email deliveries, suppressions, events, score ledger, status history and workflow executions.';
revoke all on function public.export_lead_data(uuid) from public, anon;
grant execute on function public.export_lead_data(uuid) to authenticated, service_role;
