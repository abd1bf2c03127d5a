-- Restores the recipient-list validator of 20261125130300_email_recipient_lists.sql.

create or replace function private.check_recipient_list()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  email_pattern constant text := '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$';
  uuid_pattern constant text := '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
  lead_statuses constant text[] := array['new', 'qualified', 'contacted', 'converted', 'lost'];
  problem text;
begin
  -- Not an array: left to email_campaigns_recipient_list_check.
  if jsonb_typeof(new.recipient_list) is distinct from 'array' then
    return new;
  end if;

  -- coalesce() stops at the first non-null argument, so each check may assume the ones
  -- before it passed.
  select p.problem
  into problem
  from jsonb_array_elements(new.recipient_list) with ordinality as e (entry, n)
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
      case when not (e.entry ? 'email' or e.entry ? 'leads') then
        format('%s: needs "email" (a recipient) or "leads" (a lead selector)', a.at)
      end,
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
      case
        when jsonb_typeof(a.selector -> 'min_score') <> 'number'
          then format('%s.leads.min_score: expected a whole number, not %s', a.at, a.selector -> 'min_score')
        when (a.selector ->> 'min_score')::numeric % 1 <> 0
          or (a.selector ->> 'min_score')::numeric not between -100000 and 100000
          then format('%s.leads.min_score: expected a whole number between -100000 and 100000, not %s',
                      a.at, a.selector -> 'min_score')
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

  if problem is not null then
    raise exception using
      errcode = 'check_violation',
      message = problem,
      hint = 'recipient_list is an array of {"email": ..., "first_name"?, "last_name"?, "data"?} '
             'and {"leads": {"ids"?, "tags"?, "statuses"?, "min_score"?}}; entries are counted from 0.';
  end if;
  return new;
end;
$$;
comment on function private.check_recipient_list() is
  'Trigger: rejects a malformed email_campaigns.recipient_list, naming the first bad entry (recipient_list[2].email: ...).';

drop function private.recipient_list_problem(jsonb);
