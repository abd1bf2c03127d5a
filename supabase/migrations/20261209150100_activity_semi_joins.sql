-- Segment, workflow-condition and recipient-list predicates wrapped each activity membership
-- as "(l.id in (...)) <> false" (or "<> true" when absent). The comparison hid the "in" from
-- the planner, which then tested each of an owner's leads against the hashed sub-select: at
-- 1,000,000 leads an email-activity segment cost a scan of every lead (docs/benchmarks.md). A
-- present membership is now the bare "in (...)" (a semi-join the planner may drive from the
-- activity rows) and an absent one "not (...)"; both sides are never null, so the meaning is
-- unchanged.
create or replace function private.lead_conditions_sql(conditions jsonb, lead text, owner text) returns text
language plpgsql
immutable
set search_path = ''
as $_$
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
  -- owner's rows in the window, read through the owner's (user_id, timestamp) indexes. A
  -- membership that is present is a bare "in (...)", so the planner may turn it into a semi-join
  -- driven from the few activity rows (probing leads by key) instead of testing every lead;
  -- neither side is ever null, so "not (...)" is its exact negation.
  parts := parts || array(
    select format(case when (a -> 'absent')::boolean then 'not (%s)' else '%s' end, q.membership)
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
    select format(case when (a -> 'absent')::boolean then 'not (%s)' else '%s' end,
      format('%1$s.id in (select d.lead_id from public.email_deliveries as d where d.user_id = %2$s '
        'and d.lead_id is not null and d.%3$I >= now() - %4$L::interval)',
        lead, owner,
        case a ->> 'action' when 'opened' then 'human_opened_at' when 'clicked' then 'human_clicked_at' else 'bounced_at' end,
        make_interval(days => private.jsonb_integer(a -> 'within_days'))))
    from jsonb_array_elements(coalesce(conditions -> 'emails', '[]')) as a);
  return '(' || array_to_string(parts, ') and (') || ')';
end;
$_$;
