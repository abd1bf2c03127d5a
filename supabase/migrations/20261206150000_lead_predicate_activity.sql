-- One grammar for "which leads" (issue 12): the lead conditions of workflows gain activity,
-- and a compiler turns any valid conditions into set-based SQL, so segments, workflow
-- conditions and email recipient selectors share one grammar, one validator
-- (private.lead_conditions_problem) and one SQL compiler (private.lead_conditions_sql).
--
-- New keys (docs/segments.md), each a list of 1 to 10 activities that must all hold:
--   "events": [{"event_type"?, "event_name"?, "properties"?, "within_days": 1..3650, "absent"?}]
--     an analytics event about the lead (properties.lead_id, else properties.email, as event
--     triggers attribute them) in the last within_days days, its properties containing the
--     given ones; "absent": true inverts it (no such event in the window);
--   "emails": [{"action": "opened" | "clicked" | "bounced", "within_days": 1..3650, "absent"?}]
--     an email delivery to the lead opened or clicked by a person (machine opens and link
--     scanners are not engagement), or bounced, in the window.
--
-- private.lead_matches (one lead at a time, for triggers and workflow steps) reads activity
-- too, so it becomes stable instead of immutable; the property test
-- supabase/tests/properties/lead_predicate_property_test.ts checks it agrees with the
-- compiled SQL row by row.

create function private.activity_problem(path text, activity jsonb, list text)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  actions constant text[] := array['opened', 'clicked', 'bounced'];
  allowed constant text[] := case list
    when 'events' then array['event_type', 'event_name', 'properties', 'within_days', 'absent']
    else array['action', 'within_days', 'absent'] end;
  key text;
begin
  if jsonb_typeof(activity) is distinct from 'object' then
    return format('%s: expected an activity such as %s, not %s', path,
      case list when 'events' then '{"event_name": "signup", "within_days": 30}'
        else '{"action": "opened", "within_days": 30}' end,
      left(activity::text, 100));
  end if;
  key := private.unknown_key(activity, allowed);
  if key is not null then
    return format('%s.%s: unknown key; an activity in %s takes %s', path, key, list, array_to_string(allowed, ', '));
  end if;
  if list = 'events' then
    key := private.event_filter_problem(path, activity, 'an event activity');
    if key is not null then
      return key;
    end if;
  elsif jsonb_typeof(activity -> 'action') is distinct from 'string' or activity ->> 'action' <> all (actions) then
    return format('%s.action: expected one of %s, not %s',
      path, array_to_string(actions, ', '), coalesce(left((activity -> 'action')::text, 100), '(missing)'));
  end if;
  key := private.jsonb_integer_problem(activity -> 'within_days', path || '.within_days', 1, 3650);
  if key is not null then
    return key;
  end if;
  if activity ? 'absent' and jsonb_typeof(activity -> 'absent') <> 'boolean' then
    return format('%s.absent: expected true (no such activity in the window) or false, not %s',
      path, left((activity -> 'absent')::text, 100));
  end if;
  return null;
end;
$$;

comment on function private.activity_problem(text, jsonb, text) is
  'What is wrong with one activity of lead conditions (list ''events'' or ''emails'') found at path, or null if it is valid.';

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
  key := private.unknown_key(conditions, array['statuses', 'min_score', 'max_score', 'tags', 'custom_fields', 'events', 'emails']);
  if key is not null then
    return format('%s.%s: unknown key; conditions take statuses, min_score, max_score, tags, custom_fields, events and emails',
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
    if problem is not null then
      return problem;
    end if;
  end if;

  foreach list in array array['events', 'emails'] loop
    if conditions ? list then
      if jsonb_typeof(conditions -> list) <> 'array' or jsonb_array_length(conditions -> list) not between 1 and 10 then
        return format('%s.%s: expected a list of 1 to 10 activities such as %s, not %s', path, list,
          case list when 'events' then '[{"event_name": "signup", "within_days": 30}]'
            else '[{"action": "opened", "within_days": 30}]' end,
          left((conditions -> list)::text, 100));
      end if;
      select private.activity_problem(format('%s.%s[%s]', path, list, a.n - 1), a.v, list)
      into problem
      from jsonb_array_elements(conditions -> list) with ordinality as a (v, n)
      where private.activity_problem(format('%s.%s[%s]', path, list, a.n - 1), a.v, list) is not null
      order by a.n
      limit 1;
      if problem is not null then
        return problem;
      end if;
    end if;
  end loop;
  return null;
end;
$$;


comment on function private.lead_conditions_problem(text, jsonb) is
  'What is wrong with lead conditions found at path, as "<path>.<key>: <problem>", or null if they are valid. The one validator of workflow conditions, segments and segment recipients.';

create function private.lead_activity_matches(lead public.leads, activity jsonb, list text)
returns boolean
language sql
stable
set search_path = ''
as $$
  select (case list
    when 'events' then exists (
      select
      from public.analytics_events as e
      where e.user_id = lead.user_id
        and e."timestamp" >= now() - make_interval(days => private.jsonb_integer(activity -> 'within_days'))
        and (not activity ? 'event_type' or e.event_type = activity ->> 'event_type')
        and (not activity ? 'event_name' or e.event_name = activity ->> 'event_name')
        and (not activity ? 'properties' or e.properties @> (activity -> 'properties'))
        and (lower(e.properties ->> 'lead_id') = lead.id::text or lower(e.properties ->> 'email') = lower(lead.email)))
    else exists (
      select
      from public.email_deliveries as d
      where d.lead_id = lead.id
        and d.user_id = lead.user_id
        and case activity ->> 'action'
          when 'opened' then d.human_opened_at
          when 'clicked' then d.human_clicked_at
          else d.bounced_at
        end >= now() - make_interval(days => private.jsonb_integer(activity -> 'within_days')))
  end) <> coalesce((activity -> 'absent')::boolean, false)
$$;

comment on function private.lead_activity_matches(public.leads, jsonb, text) is
  'Whether one lead meets one (valid) activity of its conditions (list ''events'' or ''emails''); see lead_conditions_sql for the set-based form.';

create or replace function private.lead_matches(lead public.leads, conditions jsonb)
returns boolean
language plpgsql
stable
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
    and (not (conditions ? 'events' or conditions ? 'emails') or not exists (
      select
      from unnest(array['events', 'emails']) as list
      cross join lateral jsonb_array_elements(coalesce(conditions -> list, '[]')) as a
      where not private.lead_activity_matches(lead, a, list)))
  );
end;
$$;

comment on function private.lead_matches(public.leads, jsonb) is
  'Whether a lead meets (valid) lead conditions, activity included; null conditions: always. One row at a time; lead_conditions_sql is the set-based form and agrees with it.';

-- Literals are quoted with %L (never spliced), so the SQL is safe for any accepted input.
create function private.lead_conditions_sql(conditions jsonb, lead text, owner text)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  parts text[] := array['true'];
  tag_ops constant jsonb := '{"any": "%1$s.tags && %2$L::text[]", "all": "%1$s.tags @> %2$L::text[]", "none": "not %1$s.tags && %2$L::text[]"}'::jsonb;
  list text;
begin
  if conditions is null then
    return 'true';
  end if;
  if conditions ? 'statuses' then
    parts := parts || format('%s.status = any (%L::text[])', lead,
      array(select jsonb_array_elements_text(conditions -> 'statuses')));
  end if;
  if conditions ? 'min_score' then
    parts := parts || format('%s.score >= %L::integer', lead, private.jsonb_integer(conditions -> 'min_score'));
  end if;
  if conditions ? 'max_score' then
    parts := parts || format('%s.score <= %L::integer', lead, private.jsonb_integer(conditions -> 'max_score'));
  end if;
  foreach list in array array['any', 'all', 'none'] loop
    if conditions -> 'tags' ? list then
      parts := parts || format(tag_ops ->> list, lead,
        array(select jsonb_array_elements_text(conditions -> 'tags' -> list)));
    end if;
  end loop;
  parts := parts || array(
    select private.value_match_sql(format('%s.custom_fields -> %L', lead, c ->> 'key'),
      quote_literal(c ->> 'op'), coalesce(format('%L::jsonb', c -> 'value'), 'null::jsonb'))
    from jsonb_array_elements(coalesce(conditions -> 'custom_fields', '[]')) as c);
  -- Activity as uncorrelated sub-selects (hashed once per query, not run per lead) over the
  -- owner's rows in the window, read through the owner's (user_id, timestamp) indexes.
  parts := parts || array(
    select format('(%s) <> %L::boolean', q.membership, coalesce((a -> 'absent')::boolean, false))
    from jsonb_array_elements(coalesce(conditions -> 'events', '[]')) as a
    cross join lateral (
      select format('e.user_id = %s and e."timestamp" >= now() - %L::interval%s%s%s', owner,
        make_interval(days => private.jsonb_integer(a -> 'within_days')),
        ' and e.event_type = ' || quote_literal(a ->> 'event_type'),
        ' and e.event_name = ' || quote_literal(a ->> 'event_name'),
        ' and e.properties @> ' || quote_literal(a ->> 'properties') || '::jsonb') as filter
    ) as f
    cross join lateral (
      select format('%1$s.id::text in (select lower(e.properties ->> ''lead_id'') from public.analytics_events as e '
        'where %3$s and e.properties ->> ''lead_id'' is not null) or lower(%1$s.email) in ('
        'select lower(e.properties ->> ''email'') from public.analytics_events as e '
        'where %3$s and e.properties ->> ''email'' is not null)', lead, owner, f.filter) as membership
    ) as q);
  parts := parts || array(
    select format('(%1$s.id in (select d.lead_id from public.email_deliveries as d where d.user_id = %2$s '
      'and d.lead_id is not null and d.%3$I >= now() - %4$L::interval)) <> %5$L::boolean',
      lead, owner,
      case a ->> 'action' when 'opened' then 'human_opened_at' when 'clicked' then 'human_clicked_at' else 'bounced_at' end,
      make_interval(days => private.jsonb_integer(a -> 'within_days')),
      coalesce((a -> 'absent')::boolean, false))
    from jsonb_array_elements(coalesce(conditions -> 'emails', '[]')) as a);
  return '(' || array_to_string(parts, ') and (') || ')';
end;
$$;

comment on function private.lead_conditions_sql(jsonb, text, text) is
  'The SQL boolean expression of (valid) lead conditions over the lead row alias `lead`, whose owner is the SQL expression `owner` (a literal lets the planner hash the activity sub-selects once). Values are quoted literals. The one compiler of segments and recipient selectors; agrees with lead_matches.';

revoke all on function private.activity_problem(text, jsonb, text), private.lead_activity_matches(public.leads, jsonb, text),
  private.lead_conditions_sql(jsonb, text, text)
  from public, anon, authenticated;
