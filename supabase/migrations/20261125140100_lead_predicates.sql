-- Predicates over a lead, shared by scoring rules and workflow conditions, and the checks
-- that validate them when a rule or a workflow is written:
--
--   private.free_mail_domains()            gmail.com, outlook.com, ... (a fixed list)
--   private.value_matches(actual, op, expected)
--       a custom field comparison: {"key": "plan", "op": "eq", "value": "pro"}, op one of
--       eq, neq (JSON equality: "pro" <> "Pro", 1 = 1.0), in (value is an array of allowed
--       values), gt, gte, lt, lte (numbers, or numeric strings such as "120", compare as
--       numbers; strings such as ISO dates compare as text), contains (a string contains the
--       value, case-insensitively, or an array contains it), exists, not_exists (no value).
--   private.comparison_problem(path, comparison)   what is wrong with a comparison, or null
--   private.unknown_key(object, allowed)   the first key of an object not in allowed
--   private.event_filter_problem(path, filter, noun)   what is wrong with an analytics event
--       filter {"event_type"?, "event_name"? (at least one), "properties"?: {...}}, or null
--
-- Problems are reported as '<path>: <what is wrong>', the path counting array entries
-- from 0, e.g. 'trigger_config.conditions.custom_fields[1].op: ...'.

create function private.free_mail_domains()
returns text[]
language sql
immutable
set search_path = ''
as $$
  select '{
    gmail.com, googlemail.com, yahoo.com, yahoo.co.uk, yahoo.fr, yahoo.de, ymail.com, rocketmail.com,
    hotmail.com, hotmail.co.uk, hotmail.fr, hotmail.de, outlook.com, outlook.fr, live.com, live.co.uk,
    msn.com, aol.com, icloud.com, me.com, mac.com, mail.com, email.com, gmx.com, gmx.de, gmx.net,
    web.de, t-online.de, yandex.com, yandex.ru, mail.ru, proton.me, protonmail.com, pm.me, zoho.com,
    qq.com, 163.com, 126.com, naver.com, orange.fr, free.fr, laposte.net, libero.it, fastmail.com,
    hey.com, tutanota.com, inbox.com, rediffmail.com
  }'::text[]
$$;
comment on function private.free_mail_domains() is 'The domains of the common free mail providers (gmail.com, outlook.com, ...).';

-- The comparison as SQL text over three SQL expressions, so that set-based statements
-- (rescoring a million leads) can evaluate it inline: a function call per row, with its
-- `set search_path`, costs more than the comparison. private.value_matches below is made
-- from the same text, so the comparison has one definition.
create function private.value_match_sql(actual text, op text, expected text)
returns text
language sql
immutable
set search_path = ''
as $$
  select format($sql$coalesce(case %2$s
    when 'exists' then jsonb_typeof(%1$s) <> 'null'
    when 'not_exists' then %1$s is null or jsonb_typeof(%1$s) = 'null'
    when 'eq' then %1$s = %3$s
    when 'neq' then %1$s is distinct from %3$s
    when 'in' then %3$s @> jsonb_build_array(%1$s)
    when 'contains' then case jsonb_typeof(%1$s)
      when 'string' then strpos(lower(%1$s #>> '{}'), lower(%3$s #>> '{}')) > 0
      when 'array' then %1$s @> jsonb_build_array(%3$s)
    end
    else case
      when jsonb_typeof(%3$s) = 'number' then case %2$s
        when 'gt' then %4$s > (%3$s)::numeric
        when 'gte' then %4$s >= (%3$s)::numeric
        when 'lt' then %4$s < (%3$s)::numeric
        when 'lte' then %4$s <= (%3$s)::numeric
      end
      when jsonb_typeof(%3$s) = 'string' and jsonb_typeof(%1$s) = 'string' then case %2$s
        when 'gt' then %1$s #>> '{}' > %3$s #>> '{}'
        when 'gte' then %1$s #>> '{}' >= %3$s #>> '{}'
        when 'lt' then %1$s #>> '{}' < %3$s #>> '{}'
        when 'lte' then %1$s #>> '{}' <= %3$s #>> '{}'
      end
    end
  end, false)$sql$,
    actual, op, expected,
    -- The actual value as a number: a JSON number, or a string holding one such as "120".
    format($sql$(case when jsonb_typeof(%1$s) = 'number' then (%1$s)::numeric
      when jsonb_typeof(%1$s) = 'string' and %1$s #>> '{}' ~ '^\s*-?[0-9]+(\.[0-9]+)?\s*$'
      then (%1$s #>> '{}')::numeric end)$sql$, actual))
$$;
comment on function private.value_match_sql(text, text, text) is
  'SQL text of a custom field comparison over three SQL expressions (actual jsonb, op text, expected jsonb); see value_matches.';

do $$
begin
  execute format($ddl$
    create function private.value_matches(actual jsonb, op text, expected jsonb)
    returns boolean
    language plpgsql
    immutable
    set search_path = ''
    as $body$ begin return %s; end; $body$
  $ddl$, private.value_match_sql('actual', 'op', 'expected'));
end;
$$;
comment on function private.value_matches(jsonb, text, jsonb) is
  'A custom field comparison: whether the actual JSON value (null: absent) passes op against expected (see value_match_sql).';

create function private.unknown_key(object jsonb, allowed text[])
returns text
language sql
immutable
set search_path = ''
as $$
  select k
  from jsonb_object_keys(object) as k
  where k <> all (allowed)
  order by k
  limit 1
$$;
comment on function private.unknown_key(jsonb, text[]) is
  'The first key (alphabetically) of a JSON object that is not among allowed; null if none.';

create function private.comparison_problem(path text, comparison jsonb)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  ops constant text[] := array['eq', 'neq', 'in', 'gt', 'gte', 'lt', 'lte', 'contains', 'exists', 'not_exists'];
  op constant text := comparison ->> 'op';
  value constant jsonb := comparison -> 'value';
begin
  if jsonb_typeof(comparison -> 'key') is distinct from 'string'
     or btrim(comparison ->> 'key') = '' or length(comparison ->> 'key') > 100 then
    return format('%s.key: expected the name of a custom field (1 to 100 characters), not %s',
      path, coalesce((comparison -> 'key')::text, '(missing)'));
  end if;
  if jsonb_typeof(comparison -> 'op') is distinct from 'string' or op <> all (ops) then
    return format('%s.op: expected one of %s, not %s',
      path, array_to_string(ops, ', '), coalesce((comparison -> 'op')::text, '(missing)'));
  end if;
  if op in ('exists', 'not_exists') then
    if value is not null then
      return format('%s.value: %s takes no value', path, op);
    end if;
    return null;
  end if;
  if value is null then
    return format('%s.value: %s needs a value to compare with', path, op);
  end if;
  if op = 'in' and (jsonb_typeof(value) <> 'array' or jsonb_array_length(value) = 0) then
    return format('%s.value: in needs a non-empty array of allowed values, not %s', path, left(value::text, 100));
  end if;
  if op in ('gt', 'gte', 'lt', 'lte') and jsonb_typeof(value) not in ('number', 'string') then
    return format('%s.value: %s compares with a number or a string, not %s', path, op, left(value::text, 100));
  end if;
  if op = 'contains' and jsonb_typeof(value) not in ('string', 'number', 'boolean') then
    return format('%s.value: contains looks for a string, number or boolean, not %s', path, left(value::text, 100));
  end if;
  return null;
end;
$$;
comment on function private.comparison_problem(text, jsonb) is
  'What is wrong with a custom field comparison {"key", "op", "value"} found at path, or null if it is valid.';

create function private.event_filter_problem(path text, filter jsonb, noun text)
returns text
language plpgsql
immutable
set search_path = ''
as $$
begin
  if not (filter ? 'event_type' or filter ? 'event_name') then
    return format('%s: %s needs event_type, event_name or both', path, noun);
  end if;
  if filter ? 'event_type' and (jsonb_typeof(filter -> 'event_type') <> 'string'
     or length(filter ->> 'event_type') not between 1 and 100) then
    return format('%s.event_type: expected an event type (1 to 100 characters), not %s',
      path, left((filter -> 'event_type')::text, 100));
  end if;
  if filter ? 'event_name' and (jsonb_typeof(filter -> 'event_name') <> 'string'
     or length(filter ->> 'event_name') not between 1 and 200) then
    return format('%s.event_name: expected an event name (1 to 200 characters), not %s',
      path, left((filter -> 'event_name')::text, 100));
  end if;
  if filter ? 'properties' and jsonb_typeof(filter -> 'properties') <> 'object' then
    return format('%s.properties: expected an object the event''s properties must contain, such as '
      '{"plan": "pro"}, not %s', path, left((filter -> 'properties')::text, 100));
  end if;
  return null;
end;
$$;
comment on function private.event_filter_problem(text, jsonb, text) is
  'What is wrong with an analytics event filter (event_type, event_name, properties) found at path, or null if it is valid; noun names its owner in the message.';

revoke all on function
  private.free_mail_domains(),
  private.value_match_sql(text, text, text),
  private.value_matches(jsonb, text, jsonb),
  private.unknown_key(jsonb, text[]),
  private.comparison_problem(text, jsonb),
  private.event_filter_problem(text, jsonb, text)
from public, anon, authenticated, service_role;
