-- Qualification after a lead update compared each updated lead with every other: the check
-- joined the statement's new and old rows (transition tables, which have no statistics), and
-- with the estimate of one row per side after the status filter the planner chose a nested
-- loop, so a statement updating n leads made n² comparisons (100 leads: 9 ms; the set-based
-- workflow worker updates up to 2,000 in one statement). The same check now groups the new and
-- old rows of each lead (a sort or hash, whatever the estimates), which is linear.
--
-- Only that query changes in private.record_updated_lead_scores, whose ledger part is generated
-- from the profile rules' SQL (20261204100200_profile_score_bounds): the function is re-created
-- from its current definition with the query replaced, and the migration fails if that query is
-- no longer there.
do $migration$
declare
  quadratic constant text := $sql$
      perform private.qualify_leads(array(
        select n.id
        from new_leads as n
        join old_leads as o on o.id = n.id
        join public.scoring_settings as s on s.user_id = n.user_id
        where n.status = 'new'
          and o.status = 'new'
          and n.score >= s.qualification_threshold
          and o.score < s.qualification_threshold
      ));$sql$;
  linear constant text := $sql$
      perform private.qualify_leads(array(
        select c.id
        from (
          select n.id, n.user_id, n.score, true as after
          from new_leads as n
          where n.status = 'new'
          union all
          select o.id, o.user_id, o.score, false
          from old_leads as o
          where o.status = 'new'
        ) as c
        join public.scoring_settings as s on s.user_id = c.user_id
        group by c.id, s.qualification_threshold
        having bool_or(c.after and c.score >= s.qualification_threshold)
           and bool_or(not c.after and c.score < s.qualification_threshold)
      ));$sql$;
  definition constant text := pg_get_functiondef('private.record_updated_lead_scores()'::regprocedure);
begin
  if strpos(definition, quadratic) = 0 then
    raise exception 'private.record_updated_lead_scores no longer holds the qualification query this migration replaces';
  end if;
  execute replace(definition, quadratic, linear);
end;
$migration$;
