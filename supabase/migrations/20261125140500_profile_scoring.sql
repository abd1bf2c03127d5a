-- Profile scoring: a lead's score is its profile points (the default rule, company +10 and
-- phone +5, plus the owner's active profile rules) plus what its ledger says it earned
-- otherwise (engagement events, decay, workflow adjustments). Every change is written to
-- lead_score_ledger in the statement that makes it.
--
--   private.applied_scoring_rules   the profile rules the scores currently reflect: a
--       compiled copy of the owner's active profile rules, replaced only by rescoring (see
--       the rescoring migration), so that a lead written while rules change is scored
--       against one consistent set. A lead insert holds a shared advisory lock on its owner
--       that rescoring takes exclusively, so no insert slips past a rescoring.
--   private.set_lead_score() (BEFORE INSERT OR UPDATE, per row)
--       insert: score = profile points (private.lead_profile_points). update: the change of
--       the profile points is applied to the old score; a score written by anyone else is
--       ignored, except by Beacon's own functions, which add to it with
--       beacon.trusted_score_write = 'on' (local to their transaction, set around the
--       statement) and write their ledger rows themselves.
--   lead_scores_after_insert / lead_scores_after_update (AFTER, per statement)
--       a ledger row per lead whose profile contributions appeared, went or changed (with
--       details per rule), and qualification: a `new` lead whose score reaches the owner's
--       threshold becomes `qualified`.

create table private.applied_scoring_rules (
  rule_id uuid primary key,
  user_id uuid not null references auth.users (id) on delete cascade,
  name text not null,
  points integer not null,
  kind text not null,
  field text,
  value text,
  pattern text,
  free_mail boolean,
  domains text[],
  tag text,
  op text,
  expected jsonb
);
comment on table private.applied_scoring_rules is
  'The profile rules lead scores currently reflect (compiled from public.scoring_rules; replaced by rescoring).';
create index applied_scoring_rules_user_id_idx on private.applied_scoring_rules (user_id);
revoke all on table private.applied_scoring_rules from public, anon, authenticated, service_role;

-- A profile rule, compiled: the condition's fields as typed columns.
create function private.compile_scoring_rule(rule public.scoring_rules)
returns private.applied_scoring_rules
language sql
immutable
set search_path = ''
as $$
  select
    rule.id,
    rule.user_id,
    rule.name,
    rule.points,
    rule.condition ->> 'type',
    coalesce(rule.condition ->> 'field', rule.condition ->> 'key'),
    lower(rule.condition ->> 'value'),
    rule.condition ->> 'pattern',
    (rule.condition ->> 'free_mail')::boolean,
    case when rule.condition ? 'domains' then
      array(select lower(d) from jsonb_array_elements_text(rule.condition -> 'domains') as d)
    end,
    rule.condition ->> 'tag',
    rule.condition ->> 'op',
    case when rule.condition ->> 'type' = 'custom_field' then rule.condition -> 'value' end
$$;
comment on function private.compile_scoring_rule(public.scoring_rules) is
  'A profile rule as a row of private.applied_scoring_rules.';

-- Whether a compiled rule matches a lead, as SQL text: columns of the rule are
-- <rule_prefix>kind, <rule_prefix>field, ..., and the lead is the row <lead>. Set-based
-- statements inline it (rescoring evaluates it millions of times); so does
-- private.profile_contributions, made from it below: the rule language has one definition.
create function private.profile_rule_match_sql(rule_prefix text, lead text)
returns text
language sql
immutable
set search_path = ''
as $$
  select format($sql$coalesce(case %1$skind
    when 'field_present' then %3$s is not null
    when 'field_equals' then lower(%3$s) = %1$svalue
    when 'field_matches' then %3$s ~* %1$spattern
    when 'email_domain' then case
      when %1$sdomains is null then (lower(split_part(%2$s.email, '@', 2)) = any (%4$L::text[])) = %1$sfree_mail
      else lower(split_part(%2$s.email, '@', 2)) = any (%1$sdomains)
    end
    when 'tag_present' then %1$stag = any (%2$s.tags)
    when 'custom_field' then %5$s
  end, false)$sql$,
    rule_prefix,
    lead,
    format($sql$(case %1$sfield when 'email' then %2$s.email when 'first_name' then %2$s.first_name
      when 'last_name' then %2$s.last_name when 'company' then %2$s.company when 'phone' then %2$s.phone
      when 'source' then %2$s.source end)$sql$, rule_prefix, lead),
    private.free_mail_domains(),
    private.value_match_sql(
      format('(%s.custom_fields -> %sfield)', lead, rule_prefix), rule_prefix || 'op', rule_prefix || 'expected'))
$$;
comment on function private.profile_rule_match_sql(text, text) is
  'SQL text: whether the compiled profile rule with columns <rule_prefix>kind, ... matches the lead row <lead>.';

-- A lead's profile contributions as SQL text: a subquery of (rule_id, reason, points) rows
-- over the lead row <lead>: the default rule's company and phone (rule_id null), then, with
-- rules, each applied rule that matches. The statement triggers below are made from it (as
-- text, once, when this migration runs), so that scoring many leads is one plain query.
-- Preparing the rules' expression costs more than a one-row statement's other work, so the
-- triggers use the variant without rules when none of the statement's owners has any.
create function private.profile_contributions_sql(lead text, with_rules boolean)
returns text
language sql
immutable
set search_path = ''
as $$
  select format($sql$
      select null::uuid as rule_id, 'default rule: company given'::text as reason, 10 as points
      where %1$s.company is not null
      union all
      select null::uuid, 'default rule: phone given'::text, 5
      where %1$s.phone is not null
    $sql$, lead)
  || case when with_rules then format($sql$
      union all
      select r.rule_id, r.name, r.points
      from private.applied_scoring_rules as r
      where r.user_id = %1$s.user_id
        and %2$s
    $sql$, lead, private.profile_rule_match_sql('r.', lead)) else '' end
$$;
comment on function private.profile_contributions_sql(text, boolean) is
  'SQL text: the profile contributions (rule_id, reason, points) of the lead row <lead>: the default rule''s, then (with_rules) the applied rules''.';

create function private.scoring_lock_key(owner uuid)
returns bigint
language plpgsql
immutable
set search_path = ''
as $$
begin
  return hashtextextended('beacon.scoring:' || owner::text, 0);
end;
$$;
comment on function private.scoring_lock_key(uuid) is
  'The advisory lock key of a user''s scores: lead inserts take it shared, rescoring exclusively.';

-- A lead's profile points, for the per-row trigger: a loop over the owner's few applied
-- rules, each tested with the rule text as a plain expression (which PL/pgSQL prepares once
-- per transaction), so that a bulk import does not prepare a query per row.
do $$
begin
  execute format($ddl$
    create function private.lead_profile_points(lead public.leads)
    returns integer
    language plpgsql
    stable
    set search_path = ''
    as $body$
    declare
      r private.applied_scoring_rules;
      points integer := (case when lead.company is not null then 10 else 0 end)
                      + (case when lead.phone is not null then 5 else 0 end);
    begin
      for r in
        select a.* from private.applied_scoring_rules as a where a.user_id = lead.user_id
      loop
        if %s then
          points := points + r.points;
        end if;
      end loop;
      return points;
    end;
    $body$
  $ddl$, private.profile_rule_match_sql('r.', 'lead'));
end;
$$;
comment on function private.lead_profile_points(public.leads) is
  'A lead''s profile points: the default rule''s (company +10, phone +5) plus its owner''s applied rules that match it.';

-- Now security definer: it reads the applied rules, which no client may read.
create or replace function private.set_lead_score()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  change integer := 0;
begin
  if tg_op = 'INSERT' then
    perform pg_advisory_xact_lock_shared(private.scoring_lock_key(new.user_id));
    new.score := private.lead_profile_points(new);
    return new;
  end if;
  if (new.user_id, new.email, new.first_name, new.last_name, new.company, new.phone, new.source, new.tags,
      new.custom_fields)
     is distinct from
     (old.user_id, old.email, old.first_name, old.last_name, old.company, old.phone, old.source, old.tags,
      old.custom_fields) then
    change := private.lead_profile_points(new) - private.lead_profile_points(old);
  end if;
  if current_setting('beacon.trusted_score_write', true) = 'on' then
    new.score := new.score + change;
  else
    new.score := old.score + change;
  end if;
  return new;
end;
$$;
comment on function private.set_lead_score() is
  'Trigger: keeps leads.score = profile points + ledgered points; ignores scores written by anyone but Beacon''s scoring.';

-- Moves `new` leads to `qualified` as the threshold's doing (lead_status_history says so).
create function private.qualify_leads(lead_ids uuid[])
returns integer
language plpgsql
set search_path = ''
as $$
declare
  previous constant text := current_setting('beacon.change_reason', true);
  qualified integer;
begin
  if coalesce(cardinality(lead_ids), 0) = 0 then
    return 0;
  end if;
  perform set_config('beacon.change_reason', 'score_threshold', true);
  update public.leads as l
  set status = 'qualified'
  where l.id = any (lead_ids)
    and l.status = 'new';
  get diagnostics qualified = row_count;
  perform set_config('beacon.change_reason', coalesce(previous, ''), true);
  return qualified;
end;
$$;
comment on function private.qualify_leads(uuid[]) is
  'Moves these leads from new to qualified, recorded as the qualification threshold''s change.';

do $$
declare
  -- One ledger row per new lead: its profile contributions.
  inserted constant text := $sql$
    insert into public.lead_score_ledger (user_id, lead_id, points, source, reason, details)
    select
      n.user_id,
      n.id,
      sum(c.points),
      'rule',
      left('new lead: ' || string_agg(c.reason || ' ' || case when c.points > 0 then '+' else '' end || c.points,
        ', ' order by c.points desc, c.reason), 2000),
      jsonb_object_agg(coalesce(c.rule_id::text, c.reason), c.points)
    from new_leads as n
    cross join lateral (%s) as c
    where c.points <> 0
    group by n.user_id, n.id
  $sql$;
  -- One ledger row per lead whose profile contributions changed: those that came, went or
  -- changed, per rule.
  updated constant text := $sql$
    insert into public.lead_score_ledger (user_id, lead_id, points, source, reason, details)
    select
      n.user_id,
      n.id,
      sum(d.points),
      'rule',
      left('lead changed: ' || string_agg(d.reason || ' ' || case when d.points > 0 then '+' else '' end || d.points,
        ', ' order by d.points desc, d.reason), 2000),
      jsonb_object_agg(coalesce(d.rule_id::text, d.reason), d.points)
    from new_leads as n
    join old_leads as o on o.id = n.id
    cross join lateral (
      select
        coalesce(nc.rule_id, oc.rule_id) as rule_id,
        coalesce(nc.reason, oc.reason) as reason,
        coalesce(nc.points, 0) - coalesce(oc.points, 0) as points
      from (%s) as nc
      full join (%s) as oc
        on coalesce(nc.rule_id::text, nc.reason) = coalesce(oc.rule_id::text, oc.reason)
    ) as d
    where (n.user_id, n.email, n.first_name, n.last_name, n.company, n.phone, n.source, n.tags, n.custom_fields)
          is distinct from
          (o.user_id, o.email, o.first_name, o.last_name, o.company, o.phone, o.source, o.tags, o.custom_fields)
      and d.points <> 0
    group by n.user_id, n.id
  $sql$;
begin
  execute format($ddl$
    create function private.record_inserted_lead_scores()
    returns trigger
    language plpgsql
    security definer
    set search_path = ''
    as $body$
    begin
      if exists (
        select from private.applied_scoring_rules as a where a.user_id in (select n.user_id from new_leads as n)
      ) then
        %s;
      else
        %s;
      end if;

      perform private.qualify_leads(array(
        select n.id
        from new_leads as n
        join public.scoring_settings as s on s.user_id = n.user_id
        where n.status = 'new'
          and n.score >= s.qualification_threshold
      ));
      return null;
    end;
    $body$
  $ddl$,
    format(inserted, private.profile_contributions_sql('n', true)),
    format(inserted, private.profile_contributions_sql('n', false)));

  execute format($ddl$
    create function private.record_updated_lead_scores()
    returns trigger
    language plpgsql
    security definer
    set search_path = ''
    as $body$
    begin
      -- Beacon's own score writes (engagement, decay, workflows, rescoring) change no
      -- profile field and ledger themselves.
      if current_setting('beacon.trusted_score_write', true) is distinct from 'on' then
        if exists (
          select from private.applied_scoring_rules as a where a.user_id in (select n.user_id from new_leads as n)
        ) then
          %s;
        else
          %s;
        end if;
      end if;

      -- Reaching the threshold is crossing it: a lead the owner put back to new stays new.
      perform private.qualify_leads(array(
        select n.id
        from new_leads as n
        join old_leads as o on o.id = n.id
        join public.scoring_settings as s on s.user_id = n.user_id
        where n.status = 'new'
          and o.status = 'new'
          and n.score >= s.qualification_threshold
          and o.score < s.qualification_threshold
      ));
      return null;
    end;
    $body$
  $ddl$,
    format(updated, private.profile_contributions_sql('n', true), private.profile_contributions_sql('o', true)),
    format(updated, private.profile_contributions_sql('n', false), private.profile_contributions_sql('o', false)));
end;
$$;
comment on function private.record_inserted_lead_scores() is
  'Trigger (after insert, per statement): ledgers new leads'' profile points and qualifies those at the threshold.';
comment on function private.record_updated_lead_scores() is
  'Trigger (after update, per statement): ledgers profile points that appeared or went, and qualifies leads whose score crossed the threshold.';

revoke all on function
  private.compile_scoring_rule(public.scoring_rules),
  private.profile_rule_match_sql(text, text),
  private.profile_contributions_sql(text, boolean),
  private.lead_profile_points(public.leads),
  private.scoring_lock_key(uuid),
  private.qualify_leads(uuid[]),
  private.record_inserted_lead_scores(),
  private.record_updated_lead_scores()
from public, anon, authenticated, service_role;

create trigger lead_scores_after_insert
after insert on public.leads
referencing new table as new_leads
for each statement execute function private.record_inserted_lead_scores();

create trigger lead_scores_after_update
after update on public.leads
referencing old table as old_leads new table as new_leads
for each statement execute function private.record_updated_lead_scores();
