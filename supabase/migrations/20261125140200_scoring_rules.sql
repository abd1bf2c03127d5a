-- scoring_rules: a user's own lead scoring rules, on top of the default rule (company +10,
-- phone +5, public.lead_profile_score). Apps manage them through the table API; RLS keeps
-- them to their owner. Each rule is a condition worth `points` (-1000 to 1000):
--
-- Profile rules, over the lead's fields (re-evaluated whenever the lead changes, and for
-- every lead of the owner after a rule changes; see the rescoring migration):
--   {"type": "field_present", "field": "company"}            first_name, last_name, company, phone, source
--   {"type": "field_equals", "field": "source", "value": "webinar"}     case-insensitive; also email
--   {"type": "field_matches", "field": "company", "pattern": "(inc|ltd)\\.?$"}   a case-insensitive regex
--   {"type": "email_domain", "free_mail": false}              the address is (not) at a free mail provider
--   {"type": "email_domain", "domains": ["acme.com"]}         the address is at one of these domains
--   {"type": "tag_present", "tag": "vip"}
--   {"type": "custom_field", "key": "employees", "op": "gte", "value": 100}
--       (op: eq, neq, in, gt, gte, lt, lte, contains, exists, not_exists; see lead_predicates)
--
-- Engagement rules, over analytics events about a lead (earned when the event is recorded;
-- they decay with the owner's half-life):
--   {"type": "event", "event_type": "email", "event_name": "email_clicked",
--    "properties": {"machine": false}, "cap": 20, "period": "week"}
--   event_type and/or event_name (at least one); properties: the event's properties must
--   contain these; cap: at most this many points per lead per period (day, week or month,
--   calendar periods in UTC).
--
-- A bad condition fails the write with a message naming the field, e.g.
--   condition.pattern: not a valid regular expression: ...

create table public.scoring_rules (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  name text not null,
  condition jsonb not null,
  points integer not null,
  is_active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint scoring_rules_name_check check (name ~ '\S' and length(name) <= 200),
  -- coalesce: a missing key makes jsonb_typeof null, and a null check would pass.
  constraint scoring_rules_condition_check check (
    coalesce(jsonb_typeof(condition -> 'type') = 'string', false)
  ),
  constraint scoring_rules_points_check check (points between -1000 and 1000)
);
comment on table public.scoring_rules is
  'Per-user lead scoring rules on top of the default (company +10, phone +5): profile conditions and engagement events, each worth points.';
comment on column public.scoring_rules.condition is
  'What earns the points: {"type": field_present | field_equals | field_matches | email_domain | tag_present | custom_field | event, ...}.';
comment on column public.scoring_rules.points is
  'Points the condition is worth (-1000 to 1000): once for a profile rule, per event for an engagement rule.';

create index scoring_rules_user_id_created_at_idx on public.scoring_rules (user_id, created_at desc);

create trigger set_updated_at
before update on public.scoring_rules
for each row execute function private.set_updated_at();

select private.secure_tenant_table('public.scoring_rules');
grant select, delete on table public.scoring_rules to authenticated;
grant insert (id, user_id, name, condition, points, is_active) on table public.scoring_rules to authenticated;
grant update (name, condition, points, is_active) on table public.scoring_rules to authenticated;

create function private.scoring_rule_problem(condition jsonb)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  kind constant text := condition ->> 'type';
  present_fields constant text[] := array['first_name', 'last_name', 'company', 'phone', 'source'];
  text_fields constant text[] := array['email', 'first_name', 'last_name', 'company', 'phone', 'source'];
  periods constant text[] := array['day', 'week', 'month'];
  allowed text[];
  key text;
  problem text;
begin
  allowed := case kind
    when 'field_present' then array['type', 'field']
    when 'field_equals' then array['type', 'field', 'value']
    when 'field_matches' then array['type', 'field', 'pattern']
    when 'email_domain' then array['type', 'free_mail', 'domains']
    when 'tag_present' then array['type', 'tag']
    when 'custom_field' then array['type', 'key', 'op', 'value']
    when 'event' then array['type', 'event_type', 'event_name', 'properties', 'cap', 'period']
  end;
  if allowed is null then
    return format('condition.type: expected one of field_present, field_equals, field_matches, email_domain, '
      'tag_present, custom_field (profile rules) or event (engagement rule), not %s', condition -> 'type');
  end if;
  key := private.unknown_key(condition, allowed);
  if key is not null then
    return format('condition.%s: unknown key; %s %s rule takes %s', key,
      case when kind ~ '^[aeiou]' then 'an' else 'a' end, kind, array_to_string(allowed[2:], ', '));
  end if;

  case kind
  when 'field_present' then
    if jsonb_typeof(condition -> 'field') is distinct from 'string' or condition ->> 'field' <> all (present_fields) then
      return format('condition.field: expected one of %s, not %s',
        array_to_string(present_fields, ', '), coalesce((condition -> 'field')::text, '(missing)'));
    end if;
  when 'field_equals', 'field_matches' then
    if jsonb_typeof(condition -> 'field') is distinct from 'string' or condition ->> 'field' <> all (text_fields) then
      return format('condition.field: expected one of %s, not %s',
        array_to_string(text_fields, ', '), coalesce((condition -> 'field')::text, '(missing)'));
    end if;
    if kind = 'field_equals' and (jsonb_typeof(condition -> 'value') is distinct from 'string'
       or length(condition ->> 'value') not between 1 and 320) then
      return format('condition.value: expected the text to compare with (1 to 320 characters), not %s',
        coalesce(left((condition -> 'value')::text, 100), '(missing)'));
    end if;
    if kind = 'field_matches' then
      if jsonb_typeof(condition -> 'pattern') is distinct from 'string'
         or length(condition ->> 'pattern') not between 1 and 500 then
        return format('condition.pattern: expected a regular expression (1 to 500 characters), not %s',
          coalesce(left((condition -> 'pattern')::text, 100), '(missing)'));
      end if;
      begin
        perform '' ~* (condition ->> 'pattern');
      exception when invalid_regular_expression then
        return format('condition.pattern: not a valid regular expression: %s', sqlerrm);
      end;
    end if;
  when 'email_domain' then
    if (condition ? 'free_mail') = (condition ? 'domains') then
      return 'condition: an email_domain rule takes either free_mail (true or false) or domains (a list), not both or neither';
    end if;
    if condition ? 'free_mail' and jsonb_typeof(condition -> 'free_mail') <> 'boolean' then
      return format('condition.free_mail: expected true or false, not %s', condition -> 'free_mail');
    end if;
    if condition ? 'domains' then
      if jsonb_typeof(condition -> 'domains') <> 'array' or jsonb_array_length(condition -> 'domains') not between 1 and 100 then
        return format('condition.domains: expected a list of 1 to 100 domains such as ["acme.com"], not %s',
          left((condition -> 'domains')::text, 100));
      end if;
      select format('condition.domains[%s]: %s is not a domain such as "acme.com"', d.n - 1, d.v)
      into problem
      from jsonb_array_elements(condition -> 'domains') with ordinality as d (v, n)
      where jsonb_typeof(d.v) <> 'string'
         or d.v #>> '{}' !~* '^([a-z0-9-]+\.)+[a-z]{2,}$'
         or length(d.v #>> '{}') > 253
      order by d.n
      limit 1;
      return problem;
    end if;
  when 'tag_present' then
    if jsonb_typeof(condition -> 'tag') is distinct from 'string' or length(condition ->> 'tag') not between 1 and 100 then
      return format('condition.tag: expected a tag (1 to 100 characters), not %s',
        coalesce(left((condition -> 'tag')::text, 100), '(missing)'));
    end if;
  when 'custom_field' then
    return private.comparison_problem('condition', condition);
  when 'event' then
    problem := private.event_filter_problem('condition', condition, 'an event rule');
    if problem is not null then
      return problem;
    end if;
    if (condition ? 'cap') <> (condition ? 'period') then
      return 'condition: cap and period go together: at most cap points per lead per period';
    end if;
    if condition ? 'cap' and (jsonb_typeof(condition -> 'cap') <> 'number'
       or (condition ->> 'cap')::numeric % 1 <> 0 or (condition ->> 'cap')::numeric not between 1 and 100000) then
      return format('condition.cap: expected a whole number of points from 1 to 100000, not %s', condition -> 'cap');
    end if;
    if condition ? 'period' and (jsonb_typeof(condition -> 'period') <> 'string'
       or condition ->> 'period' <> all (periods)) then
      return format('condition.period: expected one of %s, not %s', array_to_string(periods, ', '), condition -> 'period');
    end if;
  end case;
  return null;
end;
$$;
comment on function private.scoring_rule_problem(jsonb) is
  'What is wrong with a scoring rule''s condition, as "condition.<path>: <problem>", or null if it is valid.';

-- Security definer: an app's write runs it, and apps may not call into the private schema.
create function private.check_scoring_rule()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  problem text;
begin
  -- Not an object with a string type: left to scoring_rules_condition_check, which names it.
  if jsonb_typeof(new.condition -> 'type') is distinct from 'string' then
    return new;
  end if;
  problem := private.scoring_rule_problem(new.condition);
  if problem is not null then
    raise exception using
      errcode = 'check_violation',
      message = problem,
      hint = 'See the comment on table public.scoring_rules for the conditions a rule may have.';
  end if;
  return new;
end;
$$;
comment on function private.check_scoring_rule() is
  'Trigger: rejects a scoring rule whose condition is malformed, naming the bad field (condition.field: ...).';

revoke all on function private.scoring_rule_problem(jsonb), private.check_scoring_rule()
  from public, anon, authenticated, service_role;

create trigger check_condition
before insert or update of condition on public.scoring_rules
for each row execute function private.check_scoring_rule();
