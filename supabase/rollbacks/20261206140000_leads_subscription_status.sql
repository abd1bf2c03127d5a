-- Back to leads without a subscription state, and private.resolve_email_recipients as
-- 20261204120100_email_fan_out_integers.sql defined it.
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
      l.custom_fields as lead_custom_fields
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
$$;

comment on function private.resolve_email_recipients(uuid, jsonb) is
  'The recipients a (valid) recipient_list means for its owner: explicit entries plus selected leads, one per lower(email), lead data winning.';

drop trigger unsubscribe_leads_after_update on public.email_suppressions;
drop trigger unsubscribe_leads_after_insert on public.email_suppressions;
drop function private.unsubscribe_suppressed_leads();
drop trigger set_lead_subscription on public.leads;
drop function private.set_lead_subscription();
alter table public.leads drop column subscription_changed_at, drop column subscription_status;
