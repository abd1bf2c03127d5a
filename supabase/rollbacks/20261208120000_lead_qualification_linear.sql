-- Rollback of 20261207160000_lead_qualification_linear: the qualification check after a lead
-- update joins the statement's new and old rows again.
do $rollback$
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
begin
  execute replace(pg_get_functiondef('private.record_updated_lead_scores()'::regprocedure), linear, quadratic);
end;
$rollback$;
