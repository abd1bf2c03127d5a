-- Per-owner bounds on scoring rules, so that one account cannot make rescoring its leads
-- arbitrarily expensive or push a score out of its range by rules alone:
--   at most 200 rules (active or not) per owner;
--   the owner's active rules' points, as absolute values, add up to at most 50000, so a
--   lead's profile points (the default rule's 15 plus its matching rules) stay well inside
--   leads.score's range of -100000 to 100000, with room left for engagement and workflows.
-- A write that would go past a bound fails as a whole with a message naming the bound and
-- the total it would make. An owner already past a bound (rules written before this
-- migration) may still delete, deactivate or lower rules, and rename them: only writes that
-- add a rule or raise the active points are refused.

create function private.check_scoring_rule_limits()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  max_rules constant integer := 200;
  max_points constant integer := 50000;
  rules bigint;
  points bigint;
begin
  -- One writer per owner at a time: two concurrent inserts cannot both pass the count.
  perform pg_advisory_xact_lock(hashtextextended('beacon.scoring_rules:' || o.user_id::text, 0))
  from (select distinct n.user_id from new_rules as n order by n.user_id) as o;

  if tg_op = 'INSERT' then
    select t.rules, t.points into rules, points
    from (select distinct n.user_id from new_rules as n) as o
    cross join lateral (
      select count(*) as rules, coalesce(sum(abs(r.points)) filter (where r.is_active), 0) as points
      from public.scoring_rules as r
      where r.user_id = o.user_id
    ) as t
    where t.rules > max_rules or t.points > max_points
    limit 1;
  else
    select null, t.points into rules, points
    from (
      select n.user_id
      from new_rules as n
      join old_rules as o on o.id = n.id
      group by n.user_id
      having sum(case when n.is_active then abs(n.points) else 0 end)
           > sum(case when o.is_active then abs(o.points) else 0 end)
    ) as o
    cross join lateral (
      select coalesce(sum(abs(r.points)) filter (where r.is_active), 0) as points
      from public.scoring_rules as r
      where r.user_id = o.user_id
    ) as t
    where t.points > max_points
    limit 1;
  end if;

  if rules > max_rules then
    raise exception using
      errcode = 'check_violation',
      message = format('scoring_rules: an account may have at most %s scoring rules; this write would make %s',
        max_rules, rules),
      hint = 'Delete the rules you no longer use, then add the new ones.';
  end if;
  if points > max_points then
    raise exception using
      errcode = 'check_violation',
      message = format('scoring_rules.points: the points of an account''s active rules may add up to at most %s '
        '(as absolute values, so that a score stays within -100000 to 100000); this write would make %s',
        max_points, points),
      hint = 'Lower the points of some rules, or deactivate (is_active = false) the rules you do not need.';
  end if;
  return null;
end;
$$;
comment on function private.check_scoring_rule_limits() is
  'Trigger (after insert or update on scoring_rules, per statement): at most 200 rules per owner, and the absolute points of their active rules add up to at most 50000.';
revoke all on function private.check_scoring_rule_limits() from public, anon, authenticated, service_role;

create trigger check_limits_after_insert
after insert on public.scoring_rules
referencing new table as new_rules
for each statement execute function private.check_scoring_rule_limits();

create trigger check_limits_after_update
after update on public.scoring_rules
referencing old table as old_rules new table as new_rules
for each statement execute function private.check_scoring_rule_limits();
