-- Restores per-lead rescoring ledger rows: private.rescore_leads of
-- 20261204100500_rescoring_bounds.sql, public.explain_lead_score of
-- 20261125140900_explain_lead_score.sql and the set_lead_score trigger without its when
-- clause; drops public.scoring_rule_changes. Scores stay as they are; the profile points that
-- rescores added since are in no per-lead ledger row.

drop trigger set_lead_score on public.leads;
create trigger set_lead_score
before insert or update on public.leads
for each row execute function private.set_lead_score();

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

      perform set_config('beacon.trusted_score_write', 'on', true);
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
      -- Per lead, what each changed rule gives now minus what it gave: one row per lead
      -- whose points changed, aggregated next to the lead (no sort of all the changes);
      -- points is the change the score's bounds let through, earned the rules' change.
      per_lead as materialized (
        select
          l.id as lead_id,
          least(greatest(l.score + d.points, -100000), 100000) - l.score as points,
          d.points as earned,
          d.reason,
          d.details
        from public.leads as l
        cross join lateral (
          select
            sum(x.points)::integer as points,
            left('rules changed: ' || string_agg(
              x.name || ' (' || x.change || ') ' || case when x.points > 0 then '+' else '' end || x.points,
              ', ' order by x.points desc, x.name), 2000) as reason,
            jsonb_object_agg(x.rule_id::text, x.points) as details
          from (
            select
              c.rule_id,
              c.name,
              c.change,
              (case when %1$s then c.n_points else 0 end) - (case when %2$s then c.o_points else 0 end) as points
            from changed as c
          ) as x
          where x.points <> 0
        ) as d
        where l.user_id = owner
          and d.details is not null
      ),
      ledgered as (
        insert into public.lead_score_ledger (user_id, lead_id, points, source, reason, details)
        select owner, p.lead_id, p.points, 'rule', p.reason,
               case when p.points = p.earned then p.details
                    else p.details || jsonb_build_object('score bound: kept within -100000 to 100000', p.points - p.earned)
               end
        from per_lead as p
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
      updated as (
        update public.leads as l
        set score = l.score + p.points
        from per_lead as p
        where l.id = p.lead_id
          and p.points <> 0
        returning 1
      )
      select count(*) into rescored from updated;
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
  'Rescores all of a user''s leads against their current profile rules, set-based, with ledger rows; qualifies new leads at the threshold. Returns how many scores changed.';

create or replace function public.explain_lead_score(lead_id uuid)
returns table (source text, reason text, points integer)
language plpgsql
stable
set search_path = ''
as $$
begin
  if not exists (select from public.leads as l where l.id = explain_lead_score.lead_id) then
    raise exception 'lead % not found', explain_lead_score.lead_id
      using errcode = 'P0002', hint = 'Pass the id of one of your own leads.';
  end if;
  return query
  with contributions as (
    -- Profile rows hold their contributions per rule in details.
    select g.source, d.key, g.reason, d.value::integer as points
    from public.lead_score_ledger as g
    cross join lateral jsonb_each_text(g.details) as d
    where g.lead_id = explain_lead_score.lead_id
      and g.source = 'rule'
    union all
    select g.source, coalesce(g.rule_id::text, g.workflow_id::text, ''), g.reason, g.points
    from public.lead_score_ledger as g
    where g.lead_id = explain_lead_score.lead_id
      and g.source <> 'rule'
  )
  select
    c.source,
    case c.source
      when 'rule' then case when r.id is not null then 'rule: ' || r.name
                            when c.key ~ '^[0-9a-f-]{36}$' then 'rule: (deleted)'
                            else c.key end
      when 'event' then 'engagement: ' || coalesce(r.name, min(c.reason))
      when 'decay' then 'engagement decay'
      else 'workflow: ' || coalesce(w.name, min(c.reason))
    end,
    sum(c.points)::integer
  from contributions as c
  left join public.scoring_rules as r on r.id::text = c.key
  left join public.workflows as w on w.id::text = c.key and c.source = 'workflow'
  group by c.source, c.key, r.id, r.name, w.name
  having sum(c.points) <> 0
  order by 3 desc, 2;
end;
$$;

drop table public.scoring_rule_changes;
drop sequence private.scoring_rule_changes_seq;
drop function private.applied_rule_json(private.applied_scoring_rules);
