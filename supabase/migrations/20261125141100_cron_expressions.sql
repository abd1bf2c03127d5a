-- Cron expressions, for schedule-triggered workflows: the five standard fields
--   minute (0-59)  hour (0-23)  day of month (1-31)  month (1-12 or jan-dec)
--   day of week (0-7 or sun-sat; 0 and 7 are Sunday)
-- each `*`, a value, a range `a-b`, a step `*/n`, `a-b/n` or `a/n`, or a list of those
-- separated by commas; or one of @yearly, @annually, @monthly, @weekly, @daily, @midnight,
-- @hourly. As in cron, when both day fields are restricted a day matching either counts.
-- private.parse_cron returns the values of each field, or raises 22023 naming the field.

create function private.cron_field_values(field text, spec text, low integer, high integer, names text[])
returns integer[]
language plpgsql
immutable
set search_path = ''
as $$
declare
  part text;
  range_spec text;
  bounds text[];
  step integer;
  first integer;
  last integer;
  token text;
  value integer;
  values_found integer[] := '{}'::integer[];
begin
  foreach part in array string_to_array(spec, ',') loop
    step := 1;
    range_spec := part;
    if part like '%/%' then
      range_spec := split_part(part, '/', 1);
      if split_part(part, '/', 2) !~ '^[0-9]{1,2}$' or split_part(part, '/', 2)::integer = 0 then
        raise exception using errcode = 'invalid_parameter_value',
          message = format('%s field "%s": the step after / must be a whole number from 1 to 99', field, part);
      end if;
      step := split_part(part, '/', 2)::integer;
    end if;
    if range_spec = '*' then
      first := low;
      last := high;
    else
      bounds := string_to_array(range_spec, '-');
      if cardinality(bounds) > 2 then
        raise exception using errcode = 'invalid_parameter_value',
          message = format('%s field "%s": expected a value, a range a-b, or *', field, part);
      end if;
      for i in 1..cardinality(bounds) loop
        token := bounds[i];
        if token ~ '^[0-9]{1,2}$' then
          value := token::integer;
        elsif names is not null and array_position(names, token) is not null then
          value := low + array_position(names, token) - 1;
        else
          raise exception using errcode = 'invalid_parameter_value',
            message = format('%s field "%s": "%s" is not a number%s', field, part, token,
              case when names is null then '' else ' or a name (' || array_to_string(names, ', ') || ')' end);
        end if;
        if value not between low and high then
          raise exception using errcode = 'invalid_parameter_value',
            message = format('%s field "%s": %s is out of range %s-%s', field, part, value, low, high);
        end if;
        if i = 1 then
          first := value;
        end if;
        last := value;
      end loop;
      -- a/n: from a to the end of the range.
      if cardinality(bounds) = 1 and part like '%/%' then
        last := high;
      end if;
      if first > last then
        raise exception using errcode = 'invalid_parameter_value',
          message = format('%s field "%s": the range runs backwards', field, part);
      end if;
    end if;
    values_found := values_found || array(select generate_series(first, last, step));
  end loop;
  return array(select distinct v from unnest(values_found) as v order by v);
end;
$$;
comment on function private.cron_field_values(text, text, integer, integer, text[]) is
  'The values one field of a cron expression stands for; raises 22023 naming the field when it is malformed.';

create function private.parse_cron(expression text)
returns jsonb
language plpgsql
immutable
set search_path = ''
as $$
declare
  spec constant text := case lower(btrim(expression))
    when '@yearly' then '0 0 1 1 *'
    when '@annually' then '0 0 1 1 *'
    when '@monthly' then '0 0 1 * *'
    when '@weekly' then '0 0 * * 0'
    when '@daily' then '0 0 * * *'
    when '@midnight' then '0 0 * * *'
    when '@hourly' then '0 * * * *'
    else lower(btrim(expression))
  end;
  fields constant text[] := regexp_split_to_array(spec, '\s+');
begin
  if cardinality(fields) <> 5 then
    raise exception using errcode = 'invalid_parameter_value',
      message = format('expected 5 fields (minute hour day-of-month month day-of-week) or a macro such as @daily, '
        'not %s', to_jsonb(expression));
  end if;
  return jsonb_build_object(
    'minutes', private.cron_field_values('minute', fields[1], 0, 59, null),
    'hours', private.cron_field_values('hour', fields[2], 0, 23, null),
    'days', private.cron_field_values('day-of-month', fields[3], 1, 31, null),
    'months', private.cron_field_values('month', fields[4], 1, 12,
      array['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec']),
    -- 7 is Sunday too.
    'weekdays', array(
      select distinct v % 7
      from unnest(private.cron_field_values('day-of-week', fields[5], 0, 7,
        array['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'])) as v
      order by 1),
    'day_or_weekday', fields[3] <> '*' and fields[5] <> '*'
  );
end;
$$;
comment on function private.parse_cron(text) is
  'A cron expression''s minutes, hours, days, months and weekdays (and whether either day field suffices); raises 22023 when malformed.';

revoke all on function private.cron_field_values(text, text, integer, integer, text[]), private.parse_cron(text)
  from public, anon, authenticated, service_role;
