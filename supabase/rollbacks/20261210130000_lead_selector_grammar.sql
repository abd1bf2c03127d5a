-- Rollback of 20261210130000_lead_selector_grammar: lead selectors checked and resolved by
-- their own code again, segments compiled alone (private.segment_lead_ids); the bodies as
-- 20261206150200_email_segment_recipients and 20261209120000_email_deliveries_at_first_claim
-- left them.
create function private.segment_lead_ids(owner uuid, segment_ids uuid[])
returns setof uuid
language plpgsql
stable
set search_path = ''
as $$
declare
  condition text;
begin
  select string_agg(format('(%s)', private.lead_conditions_sql(s.predicate, 'l', format('%L::uuid', owner))), ' or ')
  into condition
  from public.segments as s
  where s.user_id = owner and s.id = any (segment_ids);
  if condition is null then
    return;
  end if;
  return query execute format('select l.id from public.leads as l where l.user_id = %L and (%s)', owner, condition);
end;
$$;
comment on function private.segment_lead_ids(uuid, uuid[]) is
  'The ids of the owner''s leads in any of the given segments of theirs (others'' and missing ones select no one), in one query.';
revoke all on function private.segment_lead_ids(uuid, uuid[]) from public, anon, authenticated, service_role;

create or replace function private.recipient_list_problem(recipient_list jsonb) RETURNS text
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $_$
declare
  email_pattern constant text := '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$';
  uuid_pattern constant text := '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
  lead_statuses constant text[] := array['new', 'qualified', 'contacted', 'converted', 'lost'];
  problem text;
begin
  if jsonb_typeof(recipient_list) is distinct from 'array' then
    return format('recipient_list: expected an array of recipients and lead selectors, not %s',
                  coalesce(left(recipient_list::text, 100), 'nothing'));
  end if;

  -- coalesce() stops at the first non-null argument, so each check may assume the ones
  -- before it passed.
  select p.problem
  into problem
  from jsonb_array_elements(recipient_list_problem.recipient_list) with ordinality as e (entry, n)
  cross join lateral (select format('recipient_list[%s]', e.n - 1) as at, e.entry -> 'leads' as selector) as a
  cross join lateral (
    select coalesce(
      case when jsonb_typeof(e.entry) not in ('object', 'string') then
        format('%s: expected a recipient such as {"email": "ada@example.com"} or a lead selector such as '
               '{"leads": {"tags": ["vip"]}}, not %s', a.at, e.entry)
      end,
      case when jsonb_typeof(e.entry) = 'string' then
        case when e.entry #>> '{}' !~ email_pattern or length(e.entry #>> '{}') > 320 then
          format('%s: %s is not an email address', a.at, e.entry)
        end
      end,
      case when jsonb_typeof(e.entry) = 'string' then '' end,
      -- A confirmation (double opt-in): {"confirm": lead id}, written by the system only (see
      -- private.check_recipient_list).
      (select format('%s: unknown key "%s"; a confirmation entry has only "confirm"', a.at, k)
       from jsonb_object_keys(e.entry) as k
       where e.entry ? 'confirm' and k <> 'confirm'
       order by k
       limit 1),
      case when e.entry ? 'confirm'
                and (jsonb_typeof(e.entry -> 'confirm') <> 'string' or lower(e.entry ->> 'confirm') !~ uuid_pattern) then
        format('%s.confirm: %s is not a lead id (a uuid)', a.at, e.entry -> 'confirm')
      end,
      case when e.entry ? 'confirm' then '' end,
      -- A segment: {"segment": id}; that it is the owner's is checked on save
      -- (private.recipient_segments_problem, from private.check_recipient_list).
      (select format('%s: unknown key "%s"; a segment entry has only "segment"', a.at, k)
       from jsonb_object_keys(e.entry) as k
       where e.entry ? 'segment' and k <> 'segment'
       order by k
       limit 1),
      case when e.entry ? 'segment'
                and (jsonb_typeof(e.entry -> 'segment') <> 'string' or lower(e.entry ->> 'segment') !~ uuid_pattern) then
        format('%s.segment: %s is not a segment id (a uuid)', a.at, e.entry -> 'segment')
      end,
      case when e.entry ? 'segment' then '' end,
      case when not (e.entry ? 'email' or e.entry ? 'leads' or e.entry ? 'list') then
        format('%s: needs "email" (a recipient), "leads" (a lead selector) or "list" (a subscription list)', a.at)
      end,
      -- A subscription list: {"list": id}. That it is the owner's is checked on save
      -- (private.check_recipient_list), which knows the owner.
      (select format('%s: unknown key "%s"; a list entry has only "list"', a.at, k)
       from jsonb_object_keys(e.entry) as k
       where e.entry ? 'list' and k <> 'list'
       order by k
       limit 1),
      case when e.entry ? 'list'
                and (jsonb_typeof(e.entry -> 'list') <> 'string' or lower(e.entry ->> 'list') !~ uuid_pattern) then
        format('%s.list: %s is not a list id (a uuid)', a.at, e.entry -> 'list')
      end,
      case when e.entry ? 'list' then '' end,
      -- A lead selector.
      (select format('%s: unknown key "%s"; a lead selector has only "leads"', a.at, k)
       from jsonb_object_keys(e.entry) as k
       where e.entry ? 'leads' and k <> 'leads'
       order by k
       limit 1),
      case when e.entry ? 'leads' and jsonb_typeof(a.selector) <> 'object' then
        format('%s.leads: expected an object such as {"tags": ["vip"]}, not %s', a.at, a.selector)
      end,
      (select format('%s.leads: unknown key "%s"; a lead selector takes ids, tags, statuses and min_score',
                     a.at, k)
       from jsonb_object_keys(a.selector) as k
       where k not in ('ids', 'tags', 'statuses', 'min_score')
       order by k
       limit 1),
      case when jsonb_typeof(a.selector -> 'ids') <> 'array' then
        format('%s.leads.ids: expected an array of lead ids, not %s', a.at, a.selector -> 'ids')
      end,
      (select format('%s.leads.ids[%s]: %s is not a lead id (a uuid)', a.at, x.i - 1, x.v)
       from jsonb_array_elements(a.selector -> 'ids') with ordinality as x (v, i)
       where jsonb_typeof(x.v) <> 'string' or lower(x.v #>> '{}') !~ uuid_pattern
       order by x.i
       limit 1),
      case when jsonb_typeof(a.selector -> 'tags') <> 'array' then
        format('%s.leads.tags: expected an array of tags, not %s', a.at, a.selector -> 'tags')
      end,
      (select format('%s.leads.tags[%s]: expected a tag (a string), not %s', a.at, x.i - 1, x.v)
       from jsonb_array_elements(a.selector -> 'tags') with ordinality as x (v, i)
       where jsonb_typeof(x.v) <> 'string'
       order by x.i
       limit 1),
      case when jsonb_typeof(a.selector -> 'statuses') <> 'array' then
        format('%s.leads.statuses: expected an array of lead statuses, not %s', a.at, a.selector -> 'statuses')
      end,
      (select format('%s.leads.statuses[%s]: %s is not a lead status (%s)', a.at, x.i - 1, x.v,
                     array_to_string(lead_statuses, ', '))
       from jsonb_array_elements(a.selector -> 'statuses') with ordinality as x (v, i)
       where jsonb_typeof(x.v) <> 'string' or x.v #>> '{}' <> all (lead_statuses)
       order by x.i
       limit 1),
      case when a.selector ? 'min_score' then
        private.jsonb_integer_problem(a.selector -> 'min_score', a.at || '.leads.min_score', -100000, 100000)
      end,
      case when e.entry ? 'leads' then '' end,
      -- A recipient.
      (select format('%s: unknown key "%s"; a recipient takes email, first_name, last_name and data', a.at, k)
       from jsonb_object_keys(e.entry) as k
       where k not in ('email', 'first_name', 'last_name', 'data')
       order by k
       limit 1),
      case when jsonb_typeof(e.entry -> 'email') <> 'string'
                or e.entry ->> 'email' !~ email_pattern
                or length(e.entry ->> 'email') > 320 then
        format('%s.email: %s is not an email address', a.at, e.entry -> 'email')
      end,
      (select format('%s.%s: expected a name of 1 to 200 characters or null, not %s', a.at, f, e.entry -> f)
       from unnest(array['first_name', 'last_name']) as f
       where jsonb_typeof(e.entry -> f) <> 'null'
         and (jsonb_typeof(e.entry -> f) <> 'string'
              or btrim(e.entry ->> f) = ''
              or length(e.entry ->> f) > 200)
       order by f
       limit 1),
      case when jsonb_typeof(e.entry -> 'data') <> 'object' then
        format('%s.data: expected an object of merge fields such as {"plan": "pro"}, not %s', a.at, e.entry -> 'data')
      end
    ) as problem
  ) as p
  where p.problem <> ''
  order by e.n
  limit 1;
  return problem;
end;
$_$;
comment on function private.recipient_list_problem(jsonb) is
  'The first problem of a recipient_list, naming its entry (recipient_list[2].email: ...), or null when it is valid. The validator trigger and fan-out both ask it.';

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
  -- The leads that lead selectors, segments and lists pick, as rows: each branch reads the
  -- leads it picks once (a campaign to 100,000 leads made 100,000 lookups by id when the
  -- branches returned ids and the rows were read again).
  picked as (
    select l.id, l.email, l.first_name, l.last_name, l.company, l.custom_fields, l.subscription_status,
           l.email_normalized
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
    -- Segments: the owner's leads in any {"segment": id} named, in one query.
    select l.id, l.email, l.first_name, l.last_name, l.company, l.custom_fields, l.subscription_status,
           l.email_normalized
    from public.leads as l
    where l.user_id = owner
      and l.id in (
        select private.segment_lead_ids(owner, array(
          select (e.entry ->> 'segment')::uuid
          from entries as e
          where jsonb_typeof(e.entry) = 'object' and e.entry ? 'segment')))
    union
    -- Lists: the members of each {"list": id} who have not left it.
    select l.id, l.email, l.first_name, l.last_name, l.company, l.custom_fields, l.subscription_status,
           l.email_normalized
    from public.leads as l
    where l.user_id = owner
      and l.id in (
        select m.lead_id
        from public.list_memberships as m
        where m.user_id = owner
          and m.unsubscribed_at is null
          and m.list_id in (
            select (e.entry ->> 'list')::uuid
            from entries as e
            where jsonb_typeof(e.entry) = 'object' and e.entry ? 'list'))
  ),
  selected as (
    select lower(p.email) as address, p.id, p.email, p.first_name, p.last_name, p.company, p.custom_fields
    from picked as p
    -- Subscription: only subscribed leads receive campaign email. One whose address is
    -- suppressed stays, so that fan-out records its delivery as suppressed (as before).
    where p.subscription_status = 'subscribed'
       or exists (
         select
         from public.email_suppressions as u
         where u.user_id = owner and lower(u.email) = p.email_normalized)
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
comment on function private.resolve_email_recipients(uuid, jsonb) is
  'The recipients a (valid) recipient_list means for its owner: explicit entries, selected leads, list members who have not left and leads asked to confirm (while unconfirmed), one per lower(email), lead data winning; leads that are not subscribed (and explicit addresses of such leads) are left out unless suppressed, which fan-out records as such.';

drop function private.recipient_list_leads(uuid, jsonb);
drop function private.lead_selector_conditions(jsonb);
