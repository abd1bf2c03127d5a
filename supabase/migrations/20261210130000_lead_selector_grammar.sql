-- Lead selectors speak the lead grammar (issue 12: one grammar, one validator, one compiler for
-- segments, workflow conditions and recipient lists). A recipient_list's legacy
-- {"leads": {"ids"?, "tags"?, "statuses"?, "min_score"?}} keeps its syntax and its meaning, but
-- is now a thin translation (private.lead_selector_conditions) into lead conditions:
--
--   statuses   the lead's status is one of them     → "statuses" (as is)
--   tags       the lead has any of them              → "tags": {"any": ...}
--   min_score  score >= it (however it is written)   → "min_score" (as is)
--   ids        the lead is one of them               → beside the conditions: the grammar has
--                                                       no ids (a selector names leads)
--   an empty list of any of them selects no lead     → ids '{}'
--
-- The translation's statuses and min_score are checked by the grammar's validator
-- (private.lead_conditions_problem) at the selector's own path, with its messages (they were the
-- same); what the grammar has no word for stays in private.recipient_list_problem. At fan-out,
-- selectors and segments compile (private.lead_conditions_sql) into one condition over the
-- owner's leads (private.recipient_list_leads, one execute), which resolve_email_recipients
-- reads instead of its own selector SQL; private.segment_lead_ids, which compiled the
-- segments alone, is dropped.
--
-- recipient_list_problem is redefined from 20261206150200_email_segment_recipients,
-- resolve_email_recipients from 20261209120000_email_deliveries_at_first_claim; only their
-- lead selector (and segment) parts change.

create function private.lead_selector_conditions(selector jsonb, out conditions jsonb, out ids uuid[])
language sql
immutable
set search_path = ''
as $$
  select
    case when jsonb_typeof(selector -> 'statuses') = 'array' and selector -> 'statuses' <> '[]'
      then jsonb_build_object('statuses', selector -> 'statuses') else '{}' end
    || case when jsonb_typeof(selector -> 'tags') = 'array' and selector -> 'tags' <> '[]'
      then jsonb_build_object('tags', jsonb_build_object('any', selector -> 'tags')) else '{}' end
    || case when selector ? 'min_score'
      then jsonb_build_object('min_score', selector -> 'min_score') else '{}' end,
    case
      when '[]' in (selector -> 'ids', selector -> 'tags', selector -> 'statuses') then '{}'
      when selector ? 'ids' then array(select x::uuid from jsonb_array_elements_text(selector -> 'ids') as x)
    end
$$;
comment on function private.lead_selector_conditions(jsonb) is
  'What a recipient_list lead selector {"leads": selector} (well-formed: private.recipient_list_problem) means in the lead grammar: the conditions its leads meet (statuses, tags any-of, min_score) and, when it names leads, their ids (null: any lead; empty: no lead, as an empty list of ids, tags or statuses selects).';
revoke all on function private.lead_selector_conditions(jsonb)
  from public, anon, authenticated, service_role;

create or replace function private.recipient_list_problem(recipient_list jsonb)
returns text
language plpgsql
immutable
set search_path = ''
as $_$
declare
  email_pattern constant text := '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$';
  uuid_pattern constant text := '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
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
      -- A lead selector, in its own syntax: what the grammar has no word for (ids; lists that may
      -- be empty; tags as any strings) is checked here, the rest by the grammar's validator.
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
      -- Statuses and min_score: the selector's translation, asked of the grammar's validator at
      -- the selector's own path (recipient_list[2].leads.statuses[1]: ...). Its tags are left out:
      -- the grammar asks 1 to 100 characters of a tag, a selector never did (and "" still
      -- matches a lead tagged "").
      case when e.entry ? 'leads' then
        private.lead_conditions_problem(a.at || '.leads',
          (private.lead_selector_conditions(a.selector)).conditions - 'tags')
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
  'The first problem of a recipient_list, naming its entry (recipient_list[2].email: ...), or null when it is valid. The validator trigger and fan-out both ask it; a lead selector''s statuses and min_score are asked of the lead grammar''s validator (private.lead_conditions_problem) through its translation (private.lead_selector_conditions).';

create function private.recipient_list_leads(owner uuid, recipient_list jsonb)
returns setof public.leads
language plpgsql
stable
set search_path = ''
as $$
declare
  -- A literal owner lets the planner hash the compiled activity sub-selects once.
  owner_sql constant text := format('%L::uuid', owner);
  picks text;
begin
  select string_agg(format('(%s)', p.condition), ' or ' order by p.n)
  into picks
  from (
    select e.n, concat_ws(' and ',
      case when t.ids is not null then format('l.id = any (%L::uuid[])', t.ids) end,
      private.lead_conditions_sql(t.conditions, 'l', owner_sql)) as condition
    from jsonb_array_elements(recipient_list) with ordinality as e (entry, n)
    cross join lateral private.lead_selector_conditions(e.entry -> 'leads') as t
    where jsonb_typeof(e.entry) = 'object' and e.entry ? 'leads'
    union all
    select e.n, private.lead_conditions_sql(s.predicate, 'l', owner_sql)
    from jsonb_array_elements(recipient_list) with ordinality as e (entry, n)
    join public.segments as s on s.user_id = owner and s.id = (e.entry ->> 'segment')::uuid
    where jsonb_typeof(e.entry) = 'object' and e.entry ? 'segment'
  ) as p;
  if picks is null then
    return;
  end if;
  -- Whole rows, read once: resolve_email_recipients needs them, and reading 100,000 ids again
  -- by id cost fan-out 0.3 to 0.5 s (docs/performance.md).
  return query execute format('select l.* from public.leads as l where l.user_id = %s and (%s)', owner_sql, picks);
end;
$$;
comment on function private.recipient_list_leads(uuid, jsonb) is
  'The owner''s leads that the lead selectors (through private.lead_selector_conditions) and the owner''s segments of a (valid) recipient_list pick, in one query compiled by private.lead_conditions_sql; a segment deleted since the campaign was saved picks no one.';
revoke all on function private.recipient_list_leads(uuid, jsonb) from public, anon, authenticated, service_role;

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
  -- The leads that lead selectors, segments and lists pick, as rows: each branch reads the
  -- leads it picks once (a campaign to 100,000 leads made 100,000 lookups by id when the
  -- branches returned ids and the rows were read again).
  picked as (
    -- Lead selectors and segments: one query, compiled by the lead grammar's compiler.
    select l.id, l.email, l.first_name, l.last_name, l.company, l.custom_fields, l.subscription_status,
           l.email_normalized
    from private.recipient_list_leads(owner, recipient_list) as l
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
  'The recipients a (valid) recipient_list means for its owner: explicit entries, selected leads (lead selectors and segments: private.recipient_list_leads), list members who have not left and leads asked to confirm (while unconfirmed), one per lower(email), lead data winning; leads that are not subscribed (and explicit addresses of such leads) are left out unless suppressed, which fan-out records as such.';

drop function private.segment_lead_ids(uuid, uuid[]);
