-- Restores fan-out as 20261125130700_email_fan_out.sql defined it.

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
      (s ->> 'min_score')::integer as min_score
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

create or replace function private.fan_out_email_campaign(email_campaign_id uuid)
returns integer
language plpgsql
set search_path = ''
-- Room to sort and hash 100,000 recipients in memory.
set work_mem = '64MB'
as $$
declare
  queued integer;
begin
  with recipients as materialized (
    select
      gen_random_uuid() as delivery_id,
      c.id as email_campaign_id,
      c.user_id,
      r.*,
      exists (
        select
        from public.email_suppressions as s
        where s.user_id = c.user_id and lower(s.email) = lower(r.email)
      ) as suppressed
    from public.email_campaigns as c
    cross join lateral private.resolve_email_recipients(c.user_id, c.recipient_list) as r
    where c.id = fan_out_email_campaign.email_campaign_id
  ),
  deliveries as (
    insert into public.email_deliveries (
      id, user_id, email_campaign_id, lead_id, email, first_name, last_name, merge_data, status,
      idempotency_key
    )
    select
      r.delivery_id, r.user_id, r.email_campaign_id, r.lead_id, r.email, r.first_name, r.last_name,
      r.merge_data, case when r.suppressed then 'suppressed' else 'queued' end, r.delivery_id::text
    from recipients as r
  )
  insert into private.email_queue (delivery_id, email_campaign_id, user_id, chunk)
  select
    r.delivery_id,
    r.email_campaign_id,
    r.user_id,
    ((row_number() over (order by lower(r.email))) - 1) / 100
  from recipients as r
  where not r.suppressed;
  get diagnostics queued = row_count;
  return queued;
end;
$$;
