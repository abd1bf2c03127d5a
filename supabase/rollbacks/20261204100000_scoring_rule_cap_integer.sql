-- Restores the validator of 20261125140200_scoring_rules.sql.

create or replace function private.scoring_rule_problem(condition jsonb)
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
