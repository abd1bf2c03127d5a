-- Restores the profile scoring triggers of 20261125140500_profile_scoring.sql.
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
    create or replace function private.record_inserted_lead_scores()
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
    create or replace function private.record_updated_lead_scores()
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
