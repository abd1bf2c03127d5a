-- Rescoring ledgers each rule change once, not once per lead (issue 13: rescoring was
-- 6k-17k leads/s, most of it spent writing one lead_score_ledger row per lead per change).
--
--   public.scoring_rule_changes   one row per rule added, changed or removed by a rescore: the
--                                 rule as applied after (points and compiled condition), so
--                                 which leads it applies to follows from the rule itself. Its
--                                 newest row per rule is the rule as the scores reflect it.
--   private.rescore_leads         sums the changed rules' points per lead (no per-lead text or
--                                 JSON), writes only scores that change, and ledgers per lead
--                                 only what the score's bound cut off.
--   public.explain_lead_score     the profile contributions evaluated from those newest rule
--                                 versions on the lead as it is (which is what every profile
--                                 ledger row and rule change added up to), the ledger's
--                                 bound and carried-over parts, and engagement, decay and
--                                 workflows from the ledger: still exact, still summing to the
--                                 score, still security invoker (RLS decides).
--   set_lead_score trigger        skipped for rescoring's own update, which changes only the
--                                 score and keeps it within the range itself.

-- Orders the changes, also those of one transaction (which share created_at); private, as
-- public holds no sequence.
create sequence private.scoring_rule_changes_seq;

create table public.scoring_rule_changes (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  rule_id uuid not null,
  name text not null,
  change text not null,
  old_points integer,
  new_points integer,
  new_rule jsonb,
  created_at timestamptz not null default now(),
  seq bigint not null default nextval('private.scoring_rule_changes_seq'),
  constraint scoring_rule_changes_change_check check (change in ('added', 'changed', 'removed')),
  constraint scoring_rule_changes_name_check check (length(name) between 1 and 200),
  constraint scoring_rule_changes_versions_check check (
    (change = 'added') = (old_points is null)
    and (change = 'removed') = (new_rule is null)
    and (new_rule is null) = (new_points is null)
    and jsonb_typeof(new_rule) = 'object')
);
comment on table public.scoring_rule_changes is
  'Every profile rule change rescoring applied to the owner''s leads (one row per rule and rescore); written by the system, read by the owner.';
comment on column public.scoring_rule_changes.seq is 'The order the changes were applied in.';
comment on column public.scoring_rule_changes.rule_id is 'The scoring rule; kept when the rule is deleted.';
comment on column public.scoring_rule_changes.new_rule is
  'The rule as the scores reflect it from this change on, compiled ({kind, field, value, pattern, free_mail, domains, tag, op, expected}, absent keys null); null when removed.';
comment on column public.scoring_rule_changes.old_points is 'Points a matching lead had from the rule before.';
comment on column public.scoring_rule_changes.new_points is 'Points a matching lead has from the rule after.';

-- The owner's history, newest first; each rule's newest version (explain_lead_score).
create index scoring_rule_changes_user_id_created_at_idx on public.scoring_rule_changes (user_id, created_at desc);
create index scoring_rule_changes_user_id_rule_id_seq_idx on public.scoring_rule_changes (user_id, rule_id, seq desc);

select private.secure_tenant_table('public.scoring_rule_changes');
grant select on table public.scoring_rule_changes to authenticated;

-- A compiled rule (a row of private.applied_scoring_rules) as scoring_rule_changes keeps it: SQL
-- nulls left out, so that a custom_field rule's JSON null value stays apart from no value.
create function private.applied_rule_json(rule private.applied_scoring_rules)
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select jsonb_strip_nulls(to_jsonb(rule) - 'rule_id' - 'user_id' - 'name' - 'points' - 'expected')
    || case when rule.expected is not null then jsonb_build_object('expected', rule.expected) else '{}' end
$$;
comment on function private.applied_rule_json(private.applied_scoring_rules) is
  'A compiled profile rule as public.scoring_rule_changes.new_rule stores it (SQL nulls left out).';
revoke all on function private.applied_rule_json(private.applied_scoring_rules) from public, anon, authenticated;

-- The rules applied so far start the history, as added.
insert into public.scoring_rule_changes (user_id, rule_id, name, change, new_points, new_rule)
select a.user_id, a.rule_id, a.name, 'added', a.points, private.applied_rule_json(a)
from private.applied_scoring_rules as a
order by a.user_id, a.rule_id;

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

-- Rescoring's update changes the score alone and clamps it: set_lead_score has nothing to do
-- for it, and a when clause skips it without a PL/pgSQL call per lead.
drop trigger set_lead_score on public.leads;
create trigger set_lead_score
before insert or update on public.leads
for each row
when (current_setting('beacon.rescoring', true) is distinct from 'on')
execute function private.set_lead_score();

do $$
begin
  execute format($ddl$
    create or replace function public.explain_lead_score(lead_id uuid)
    returns table (source text, reason text, points integer)
    language plpgsql
    stable
    set search_path = ''
    as $body$
    declare
      lead_row public.leads;
    begin
      select l.* into lead_row from public.leads as l where l.id = explain_lead_score.lead_id;
      if lead_row.id is null then
        raise exception 'lead %% not found', explain_lead_score.lead_id
          using errcode = 'P0002', hint = 'Pass the id of one of your own leads.';
      end if;
      return query
      with applied as (
        -- Each profile rule as rescoring last applied it: its newest change, unless removed.
        select a.rule_id, a.name, a.points,
               a.rule ->> 'kind' as kind, a.rule ->> 'field' as field, a.rule ->> 'value' as value,
               a.rule ->> 'pattern' as pattern, (a.rule ->> 'free_mail')::boolean as free_mail,
               case when a.rule ? 'domains' then
                 array(select jsonb_array_elements_text(a.rule -> 'domains'))
               end as domains,
               a.rule ->> 'tag' as tag, a.rule ->> 'op' as op, a.rule -> 'expected' as expected
        from (
          select distinct on (g.rule_id) g.rule_id, g.name, g.new_points as points, g.new_rule as rule
          from public.scoring_rule_changes as g
          where g.user_id = lead_row.user_id
          order by g.rule_id, g.seq desc
        ) as a
        where a.rule is not null
      ),
      contributions as (
        -- Profile points: the ledger's profile rows and the rule changes add up to the
        -- applied rules evaluated on the lead as it is, so they are evaluated.
        select 'rule'::text as source, coalesce(p.rule_id::text, p.reason) as key, p.reason, p.points
        from (
          %1$s
          union all
          select r.rule_id, r.name, r.points
          from applied as r
          where %2$s
        ) as p
        union all
        -- The profile rows' other parts: what the score's bound cut off, what was carried over.
        select g.source, d.key, g.reason, d.value::integer
        from public.lead_score_ledger as g
        cross join lateral jsonb_each_text(g.details) as d
        where g.lead_id = explain_lead_score.lead_id
          and g.source = 'rule'
          and d.key !~ '^[0-9a-f-]{36}$'
          and d.key not like 'default rule: %%'
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
    $body$
  $ddl$,
    private.profile_contributions_sql('lead_row', false),
    private.profile_rule_match_sql('r.', 'lead_row'));
end;
$$;
comment on function public.explain_lead_score(uuid) is
  'Why one of the caller''s leads has its score: (source, reason, points) per contribution, summing to the score.';
