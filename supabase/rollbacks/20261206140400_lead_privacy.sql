-- Back to no erasure and no export: private.set_lead_subscription as
-- 20261206140000_leads_subscription_status.sql and private.resolve_email_recipients as
-- 20261206140300_double_opt_in.sql defined them.
drop function public.export_lead_data(uuid);
drop function public.erase_lead(uuid);
drop trigger erase_deleted_leads on public.leads;
drop function private.erase_deleted_leads();
create or replace function private.set_lead_subscription()
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
  where x.lead_subscription_status is null
     or x.lead_subscription_status = 'subscribed'
     or exists (
       select
       from public.email_suppressions as u
       where u.user_id = owner and lower(u.email) = x.address)
$$;

drop function private.address_hash(uuid, text);
drop table private.erased_addresses;
