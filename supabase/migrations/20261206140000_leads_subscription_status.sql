-- Subscription state on leads, explicit: subscribed, unconfirmed (a double opt-in not yet
-- confirmed) or unsubscribed. Existing leads whose address was unsubscribed or complained
-- about become unsubscribed; every later such suppression unsubscribes the owner's lead of that
-- address, and a lead created or re-addressed onto such an address starts unsubscribed. Email
-- recipient resolution (so campaigns and workflow send_email steps, which are one-recipient
-- campaigns) sends only to leads that are subscribed.

alter table public.leads
  add column subscription_status text not null default 'subscribed'
    constraint leads_subscription_status_check
    check (subscription_status in ('subscribed', 'unconfirmed', 'unsubscribed')),
  add column subscription_changed_at timestamptz not null default now();

comment on column public.leads.subscription_status is
  'subscribed (receives campaign email), unconfirmed (double opt-in pending: receives none) or unsubscribed (receives none); an unsubscribe or complaint suppression sets unsubscribed.';
comment on column public.leads.subscription_changed_at is
  'When subscription_status last changed (system-maintained; unconfirmed leads expire from it).';

grant insert (subscription_status), update (subscription_status) on public.leads to authenticated;

update public.leads as l
set subscription_status = 'unsubscribed'
from public.email_suppressions as s
where s.user_id = l.user_id
  and lower(s.email) = l.email_normalized
  and s.reason in ('unsubscribed', 'complaint');

create function private.set_lead_subscription()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if exists (
    select
    from public.email_suppressions as s
    where s.user_id = new.user_id
      and lower(s.email) = lower(btrim(new.email))
      and s.reason in ('unsubscribed', 'complaint')
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

comment on function private.set_lead_subscription() is
  'Trigger (before insert or update on leads): an address unsubscribed or complained about stays unsubscribed; stamps subscription_changed_at when the state changes.';
revoke all on function private.set_lead_subscription() from public, anon, authenticated, service_role;

create trigger set_lead_subscription
before insert or update of email, subscription_status on public.leads
for each row execute function private.set_lead_subscription();

-- Runs as whoever wrote the suppressions: owners may only write manual ones (RLS), which
-- unsubscribe nobody; the system's unsubscribes and complaints reach the owner's leads.
create function private.unsubscribe_suppressed_leads()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  update public.leads as l
  set subscription_status = 'unsubscribed'
  from new_suppressions as s
  where s.user_id = l.user_id
    and lower(s.email) = l.email_normalized
    and s.reason in ('unsubscribed', 'complaint')
    and l.subscription_status <> 'unsubscribed';
  return null;
end;
$$;

comment on function private.unsubscribe_suppressed_leads() is
  'Trigger (after insert or update on email_suppressions, per statement): an unsubscribe or complaint unsubscribes the owner''s lead of that address.';
revoke all on function private.unsubscribe_suppressed_leads() from public, anon, authenticated, service_role;

-- Transition tables allow one event per trigger: the insert and the update (an upsert onto a
-- manual suppression) each have theirs.
create trigger unsubscribe_leads_after_insert
after insert on public.email_suppressions
referencing new table as new_suppressions
for each statement execute function private.unsubscribe_suppressed_leads();

create trigger unsubscribe_leads_after_update
after update on public.email_suppressions
referencing new table as new_suppressions
for each statement execute function private.unsubscribe_suppressed_leads();

-- The recipients of a list, as 20261204120100_email_fan_out_integers.sql defined them, with
-- the subscription state honoured (the two commented pieces).
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
  selected as (
    select lower(l.email) as address, l.id, l.email, l.first_name, l.last_name, l.company, l.custom_fields
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

      -- Subscription: only subscribed leads receive campaign email. One whose address is
      -- suppressed stays, so that fan-out records its delivery as suppressed (as before).
      and (l.subscription_status = 'subscribed'
           or exists (
             select
             from public.email_suppressions as u
             where u.user_id = owner and lower(u.email) = l.email_normalized))
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
  where x.lead_subscription_status is null
     or x.lead_subscription_status = 'subscribed'
     or exists (
       select
       from public.email_suppressions as u
       where u.user_id = owner and lower(u.email) = x.address)
$$;

comment on function private.resolve_email_recipients(uuid, jsonb) is
  'The recipients a (valid) recipient_list means for its owner: explicit entries plus selected leads, one per lower(email), lead data winning; leads that are not subscribed (and explicit addresses of such leads) are left out unless suppressed, which fan-out records as such.';
