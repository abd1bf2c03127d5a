-- Back to conditions without activity: the previous validator and matcher (20261204110000_workflow_integers).
drop function private.lead_conditions_sql(jsonb, text, text);

create or replace function private.lead_conditions_problem(path text, conditions jsonb)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  statuses constant text[] := array['new', 'qualified', 'contacted', 'converted', 'lost'];
  key text;
  problem text;
  bound text;
  list text;
begin
  if jsonb_typeof(conditions) is distinct from 'object' then
    return format('%s: expected an object such as {"statuses": ["new"], "min_score": 10}, not %s',
      path, coalesce(left(conditions::text, 100), '(missing)'));
  end if;
  key := private.unknown_key(conditions, array['statuses', 'min_score', 'max_score', 'tags', 'custom_fields']);
  if key is not null then
    return format('%s.%s: unknown key; conditions take statuses, min_score, max_score, tags and custom_fields',
      path, key);
  end if;

  if conditions ? 'statuses' then
    if jsonb_typeof(conditions -> 'statuses') <> 'array' or jsonb_array_length(conditions -> 'statuses') = 0 then
      return format('%s.statuses: expected a non-empty list of lead statuses, not %s',
        path, left((conditions -> 'statuses')::text, 100));
    end if;
    select format('%s.statuses[%s]: %s is not a lead status (%s)', path, s.n - 1, s.v, array_to_string(statuses, ', '))
    into problem
    from jsonb_array_elements(conditions -> 'statuses') with ordinality as s (v, n)
    where jsonb_typeof(s.v) <> 'string' or s.v #>> '{}' <> all (statuses)
    order by s.n
    limit 1;
    if problem is not null then
      return problem;
    end if;
  end if;

  foreach bound in array array['min_score', 'max_score'] loop
    if conditions ? bound then
      problem := private.jsonb_integer_problem(conditions -> bound, path || '.' || bound, -100000, 100000);
      if problem is not null then
        return problem;
      end if;
    end if;
  end loop;
  if private.jsonb_integer(conditions -> 'min_score') > private.jsonb_integer(conditions -> 'max_score') then
    return format('%s: min_score (%s) is above max_score (%s): no lead could match',
      path, conditions -> 'min_score', conditions -> 'max_score');
  end if;

  if conditions ? 'tags' then
    if jsonb_typeof(conditions -> 'tags') <> 'object' or conditions -> 'tags' = '{}' then
      return format('%s.tags: expected an object such as {"any": ["vip"]} (any, all, none), not %s',
        path, left((conditions -> 'tags')::text, 100));
    end if;
    key := private.unknown_key(conditions -> 'tags', array['any', 'all', 'none']);
    if key is not null then
      return format('%s.tags.%s: unknown key; tags take any, all and none', path, key);
    end if;
    foreach list in array array['any', 'all', 'none'] loop
      if conditions -> 'tags' ? list then
        if jsonb_typeof(conditions -> 'tags' -> list) <> 'array' or jsonb_array_length(conditions -> 'tags' -> list) = 0 then
          return format('%s.tags.%s: expected a non-empty list of tags, not %s',
            path, list, left((conditions -> 'tags' -> list)::text, 100));
        end if;
        select format('%s.tags.%s[%s]: expected a tag (1 to 100 characters), not %s', path, list, t.n - 1, t.v)
        into problem
        from jsonb_array_elements(conditions -> 'tags' -> list) with ordinality as t (v, n)
        where jsonb_typeof(t.v) <> 'string' or length(t.v #>> '{}') not between 1 and 100
        order by t.n
        limit 1;
        if problem is not null then
          return problem;
        end if;
      end if;
    end loop;
  end if;

  if conditions ? 'custom_fields' then
    if jsonb_typeof(conditions -> 'custom_fields') <> 'array'
       or jsonb_array_length(conditions -> 'custom_fields') not between 1 and 20 then
      return format('%s.custom_fields: expected a list of 1 to 20 comparisons such as '
        '[{"key": "plan", "op": "eq", "value": "pro"}], not %s', path, left((conditions -> 'custom_fields')::text, 100));
    end if;
    select coalesce(
      case when jsonb_typeof(c.v) <> 'object' then
        format('%s.custom_fields[%s]: expected a comparison such as {"key": "plan", "op": "eq", "value": "pro"}, not %s',
          path, c.n - 1, left(c.v::text, 100))
      end,
      (select format('%s.custom_fields[%s].%s: unknown key; a comparison takes key, op and value', path, c.n - 1, k)
       from jsonb_object_keys(c.v) as k
       where k not in ('key', 'op', 'value')
       order by k
       limit 1),
      private.comparison_problem(format('%s.custom_fields[%s]', path, c.n - 1), c.v))
    into problem
    from jsonb_array_elements(conditions -> 'custom_fields') with ordinality as c (v, n)
    where jsonb_typeof(c.v) <> 'object'
       or private.unknown_key(c.v, array['key', 'op', 'value']) is not null
       or private.comparison_problem(format('%s.custom_fields[%s]', path, c.n - 1), c.v) is not null
    order by c.n
    limit 1;
    return problem;
  end if;
  return null;
end;
$$;

create or replace function private.lead_matches(lead public.leads, conditions jsonb)
returns boolean
language plpgsql
immutable
set search_path = ''
as $$
begin
  return conditions is null or (
    (not conditions ? 'statuses'
      or lead.status = any (array(select jsonb_array_elements_text(conditions -> 'statuses'))))
    and (not conditions ? 'min_score' or lead.score >= private.jsonb_integer(conditions -> 'min_score'))
    and (not conditions ? 'max_score' or lead.score <= private.jsonb_integer(conditions -> 'max_score'))
    and (conditions #> '{tags,any}' is null
      or lead.tags && array(select jsonb_array_elements_text(conditions #> '{tags,any}')))
    and (conditions #> '{tags,all}' is null
      or lead.tags @> array(select jsonb_array_elements_text(conditions #> '{tags,all}')))
    and (conditions #> '{tags,none}' is null
      or not lead.tags && array(select jsonb_array_elements_text(conditions #> '{tags,none}')))
    and (not conditions ? 'custom_fields' or not exists (
      select
      from jsonb_array_elements(conditions -> 'custom_fields') as c
      where not private.value_matches(lead.custom_fields -> (c ->> 'key'), c ->> 'op', c -> 'value')))
  );
end;
$$;

comment on function private.lead_conditions_problem(text, jsonb) is
  'What is wrong with lead conditions found at path, as "<path>.<key>: <problem>", or null if they are valid.';
comment on function private.lead_matches(public.leads, jsonb) is
  'Whether a lead meets (valid) workflow conditions; null conditions: always.';
drop function private.lead_activity_matches(public.leads, jsonb, text);
drop function private.activity_problem(text, jsonb, text);
