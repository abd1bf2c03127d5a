-- Rescoring evaluates the changed rules compiled into one SQL expression, and its score-only
-- update skips the lead triggers that have nothing to do for it (issue 13).
--
-- Measured on 100,000 leads (docs/performance.md, "Rescoring"): of a rescore's 8.1 s, 1.9 s
-- went to evaluating every lead against the changed rules through the generic matcher (a
-- lateral aggregate per lead over the changed rules, a CASE on each rule's kind per lead and
-- rule), 0.55 s to two statement triggers with nothing to do, and the rest to the update.
--
--   private.profile_rule_literal_sql  a compiled rule as SQL text with its values as literals:
--                                     the generic matcher (profile_rule_match_sql, the one that
--                                     explain_lead_score and the lead triggers use) with the
--                                     rule's values in place of its columns, so the planner
--                                     folds the CASE on the kind away and what is left is the
--                                     rule's own predicate.
--   private.rescore_leads             sums, per lead, one expression made of the changed rules
--                                     (a rule whose points alone changed is evaluated once, for
--                                     the difference); with no changed profile rule it reads no
--                                     lead. Still one scoring_rule_changes row per changed rule,
--                                     scores written only where they change.
--   lead_status_history,              when clauses skip them for rescoring's own update, which
--   lead_scores_after_update          changes no status and ledgers nothing per lead; rescoring
--                                     qualifies every new lead at or above the threshold after
--                                     it (what lead_scores_after_update would have done for the
--                                     leads that crossed it).

create function private.profile_rule_literal_sql(rule private.applied_scoring_rules, lead text)
returns text
language sql
immutable
set search_path = ''
as $_$
  -- The matcher's rule columns become format() placeholders (after doubling any % it holds),
  -- so each value is quoted once, in one pass, and never read as SQL.
  select format(
    replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(
      private.profile_rule_match_sql('rule$', lead),
      '%', '%%'),
      'rule$kind', '%1$s'), 'rule$field', '%2$s'), 'rule$value', '%3$s'), 'rule$pattern', '%4$s'),
      'rule$free_mail', '%5$s'), 'rule$domains', '%6$s'), 'rule$tag', '%7$s'), 'rule$op', '%8$s'),
      'rule$expected', '%9$s'),
    quote_nullable(rule.kind) || '::text',
    quote_nullable(rule.field) || '::text',
    quote_nullable(rule.value) || '::text',
    quote_nullable(rule.pattern) || '::text',
    quote_nullable(rule.free_mail) || '::boolean',
    quote_nullable(rule.domains) || '::text[]',
    quote_nullable(rule.tag) || '::text',
    quote_nullable(rule.op) || '::text',
    quote_nullable(rule.expected) || '::jsonb')
$_$;
comment on function private.profile_rule_literal_sql(private.applied_scoring_rules, text) is
  'SQL text: whether the lead row <lead> matches this compiled profile rule, with the rule''s values as literals (the generic matcher, profile_rule_match_sql, specialised to the rule).';
revoke all on function private.profile_rule_literal_sql(private.applied_scoring_rules, text) from public, anon, authenticated;

create or replace function private.rescore_leads(owner uuid)
returns integer
language plpgsql
set search_path = ''
-- Room for a million leads' changes in memory.
set work_mem = '256MB'
as $$
declare
  rescored integer := 0;
  earned_sql text;
begin
  perform pg_advisory_xact_lock(private.scoring_lock_key(owner));
  -- Requests filed from here on stay for the next run.
  delete from private.scoring_rescores as q where q.user_id = owner;

  -- The rules: one scoring_rule_changes row per changed rule, the applied rules brought up to
  -- date, and what the changed rules give a lead now minus what they gave, as one expression.
  with live as (
    select c.*
    from public.scoring_rules as r
    cross join lateral private.compile_scoring_rule(r) as c
    where r.user_id = owner
      and r.is_active
      and r.condition ->> 'type' <> 'event'
  ),
  changed as materialized (
    select
      coalesce(n.rule_id, o.rule_id) as rule_id,
      coalesce(n.name, o.name) as name,
      case when o.rule_id is null then 'added' when n.rule_id is null then 'removed' else 'changed' end
        as change,
      case when n.rule_id is not null then row(n.*)::private.applied_scoring_rules end as n_rule,
      case when o.rule_id is not null then row(o.*)::private.applied_scoring_rules end as o_rule,
      o.points as o_points,
      n.points as n_points,
      (n.kind, n.field, n.value, n.pattern, n.free_mail, n.domains, n.tag, n.op, n.expected)
        is not distinct from
        (o.kind, o.field, o.value, o.pattern, o.free_mail, o.domains, o.tag, o.op, o.expected)
        as same_condition
    from live as n
    full join (select * from private.applied_scoring_rules as a where a.user_id = owner) as o
      on o.rule_id = n.rule_id
    where (n.kind, n.field, n.value, n.pattern, n.free_mail, n.domains, n.tag, n.op, n.expected, n.points)
          is distinct from
          (o.kind, o.field, o.value, o.pattern, o.free_mail, o.domains, o.tag, o.op, o.expected, o.points)
  ),
  -- The history: one row per changed rule, whatever the number of leads.
  recorded as (
    insert into public.scoring_rule_changes (user_id, rule_id, name, change, old_points, new_points, new_rule)
    select owner, c.rule_id, c.name, c.change, c.o_points, c.n_points, private.applied_rule_json(c.n_rule)
    from changed as c
    order by c.rule_id
  ),
  removed as (
    delete from private.applied_scoring_rules as a
    where a.user_id = owner
      and not exists (select from live as n where n.rule_id = a.rule_id)
  ),
  applied as (
    insert into private.applied_scoring_rules
    select * from live
    on conflict (rule_id) do update
    set name = excluded.name, points = excluded.points, kind = excluded.kind, field = excluded.field,
        value = excluded.value, pattern = excluded.pattern, free_mail = excluded.free_mail,
        domains = excluded.domains, tag = excluded.tag, op = excluded.op, expected = excluded.expected
  )
  select string_agg(
    case
      -- Only the points changed: one evaluation, for the difference.
      when c.same_condition then
        format('(case when %s then %s else 0 end)', private.profile_rule_literal_sql(c.n_rule, 'l'),
               c.n_points - c.o_points)
      -- Added, removed or a new condition: the new version's points, less the old one's.
      else concat_ws(' + ',
        case when c.n_points is not null then
          format('(case when %s then %s else 0 end)', private.profile_rule_literal_sql(c.n_rule, 'l'), c.n_points)
        end,
        case when c.o_points is not null then
          format('(case when %s then %s else 0 end)', private.profile_rule_literal_sql(c.o_rule, 'l'), -c.o_points)
        end)
    end,
    ' + ' order by c.rule_id)
  into earned_sql
  from changed as c;

  if earned_sql is not null then
    -- The lead triggers: set_lead_score, lead_scores_after_update and lead_status_history
    -- skip this update (their when clauses): it changes the score alone, clamped here, and the
    -- explanation evaluates the rules. lead_score_reached workflows still follow it.
    perform set_config('beacon.trusted_score_write', 'on', true);
    perform set_config('beacon.rescoring', 'on', true);
    execute format($sql$
      with per_lead as materialized (
        -- Per lead, what the changed rules earned it (offset 0: evaluated once per lead), for
        -- the leads it is not zero for; the score it takes them to, within the column's range.
        select e.id as lead_id, e.score, e.earned, least(greatest(e.score + e.earned, -100000), 100000) as target
        from (
          select l.id, l.score, (%s)::integer as earned
          from public.leads as l
          where l.user_id = $1
          offset 0
        ) as e
        where e.earned <> 0
      ),
      -- The explanation evaluates the rules on the lead, so only what the bound cut off needs
      -- a row of the lead's own (also when it cut everything and the score stays).
      bounded as (
        insert into public.lead_score_ledger (user_id, lead_id, points, source, reason, details)
        select $1, p.lead_id, p.target - p.score - p.earned, 'rule',
               'rules changed: score bound: kept within -100000 to 100000',
               jsonb_build_object('score bound: kept within -100000 to 100000', p.target - p.score - p.earned)
        from per_lead as p
        where p.target <> p.score + p.earned
      ),
      -- An unchanged score is not written.
      updated as (
        update public.leads as l
        set score = p.target
        from per_lead as p
        where l.id = p.lead_id
          and p.target <> l.score
        returning 1
      )
      select count(*)::integer from updated
    $sql$, earned_sql)
    into rescored
    using owner;
    perform set_config('beacon.rescoring', '', true);
    perform set_config('beacon.trusted_score_write', '', true);
  end if;

  -- The threshold may have changed too: every new lead at or above it is qualified.
  perform private.qualify_leads(array(
    select l.id
    from public.leads as l
    join public.scoring_settings as s on s.user_id = l.user_id
    where l.user_id = owner
      and l.status = 'new'
      and l.score >= s.qualification_threshold
  ));
  return rescored;
end;
$$;
comment on function private.rescore_leads(uuid) is
  'Rescores all of a user''s leads against their current profile rules, set-based: one scoring_rule_changes row per changed rule, the changed rules compiled into one expression per lead, scores written only where they change (ledger rows only for what the bound cut off); qualifies new leads at the threshold. Returns how many scores changed.';

-- Rescoring's update changes no status and ledgers nothing per lead: these two statement
-- triggers have nothing to do for it (their join of the statement's old and new rows took
-- 0.55 s per 100,000 leads). Rescoring qualifies the leads itself, after the update.
drop trigger lead_status_history on public.leads;
create trigger lead_status_history
after update on public.leads
referencing old table as old_leads new table as new_leads
for each statement
when (current_setting('beacon.rescoring', true) is distinct from 'on')
execute function private.record_lead_status_changes();

drop trigger lead_scores_after_update on public.leads;
create trigger lead_scores_after_update
after update on public.leads
referencing old table as old_leads new table as new_leads
for each statement
when (current_setting('beacon.rescoring', true) is distinct from 'on')
execute function private.record_updated_lead_scores();
