-- Restores private.rescore_leads of 20261208110000_rescoring_per_rule_change.sql (the
-- changed rules evaluated per lead through the generic matcher) and the lead_status_history
-- and lead_scores_after_update triggers without their when clauses; drops
-- private.profile_rule_literal_sql. Scores stay as they are (both versions compute the same).

drop trigger lead_scores_after_update on public.leads;
create trigger lead_scores_after_update
after update on public.leads
referencing old table as old_leads new table as new_leads
for each statement
execute function private.record_updated_lead_scores();

drop trigger lead_status_history on public.leads;
create trigger lead_status_history
after update on public.leads
referencing old table as old_leads new table as new_leads
for each statement
execute function private.record_lead_status_changes();

do $$
begin
  execute format($ddl$
    create or replace function private.rescore_leads(owner uuid)
    returns integer
    language plpgsql
    set search_path = ''
    -- Room for a million leads' changes in memory.
    set work_mem = '256MB'
    as $body$
    declare
      rescored integer;
    begin
      perform pg_advisory_xact_lock(private.scoring_lock_key(owner));
      -- Requests filed from here on stay for the next run.
      delete from private.scoring_rescores as q where q.user_id = owner;

      -- The lead triggers: ledger nothing per lead (lead_scores_after_update), leave the score
      -- as written (set_lead_score, whose when clause skips it: this update is score-only and
      -- clamps). Qualification and lead_score_reached workflows still follow the statement.
      perform set_config('beacon.trusted_score_write', 'on', true);
      perform set_config('beacon.rescoring', 'on', true);
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
          case when n.rule_id is not null then private.applied_rule_json(row(n.*)::private.applied_scoring_rules) end
            as n_rule,
          o.kind as o_kind, o.field as o_field, o.value as o_value, o.pattern as o_pattern,
          o.free_mail as o_free_mail, o.domains as o_domains, o.tag as o_tag, o.op as o_op,
          o.expected as o_expected, o.points as o_points,
          n.kind as n_kind, n.field as n_field, n.value as n_value, n.pattern as n_pattern,
          n.free_mail as n_free_mail, n.domains as n_domains, n.tag as n_tag, n.op as n_op,
          n.expected as n_expected, n.points as n_points
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
        select owner, c.rule_id, c.name, c.change, c.o_points, c.n_points, c.n_rule
        from changed as c
        order by c.rule_id
      ),
      -- Per lead, what the changed rules give now minus what they gave (earned), for the leads
      -- it is not zero for; the score those points take it to, within the column's range.
      per_lead as materialized (
        select l.id as lead_id, l.score, d.earned, least(greatest(l.score + d.earned, -100000), 100000) as target
        from public.leads as l
        cross join lateral (
          select sum((case when %1$s then c.n_points else 0 end) - (case when %2$s then c.o_points else 0 end))::integer
            as earned
          from changed as c
        ) as d
        where l.user_id = owner
          and d.earned <> 0
      ),
      -- The explanation evaluates the rules on the lead, so only what the bound cut off needs
      -- a row of the lead's own (also when it cut everything and the score stays).
      bounded as (
        insert into public.lead_score_ledger (user_id, lead_id, points, source, reason, details)
        select owner, p.lead_id, p.target - p.score - p.earned, 'rule',
               'rules changed: score bound: kept within -100000 to 100000',
               jsonb_build_object('score bound: kept within -100000 to 100000', p.target - p.score - p.earned)
        from per_lead as p
        where p.target <> p.score + p.earned
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
      ),
      -- An unchanged score is not written.
      updated as (
        update public.leads as l
        set score = least(greatest(l.score + p.earned, -100000), 100000)
        from per_lead as p
        where l.id = p.lead_id
          and least(greatest(l.score + p.earned, -100000), 100000) <> l.score
        returning 1
      )
      select count(*) into rescored from updated;
      perform set_config('beacon.rescoring', '', true);
      perform set_config('beacon.trusted_score_write', '', true);

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
    $body$
  $ddl$,
    private.profile_rule_match_sql('c.n_', 'l'),
    private.profile_rule_match_sql('c.o_', 'l'));
end;
$$;
comment on function private.rescore_leads(uuid) is
  'Rescores all of a user''s leads against their current profile rules, set-based: one scoring_rule_changes row per changed rule, scores written only where they change (ledger rows only for what the bound cut off); qualifies new leads at the threshold. Returns how many scores changed.';

drop function private.profile_rule_literal_sql(private.applied_scoring_rules, text);
