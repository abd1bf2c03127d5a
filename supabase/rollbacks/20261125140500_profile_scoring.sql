drop trigger lead_scores_after_update on public.leads;
drop trigger lead_scores_after_insert on public.leads;
drop function private.record_updated_lead_scores();
drop function private.record_inserted_lead_scores();
drop function private.qualify_leads(uuid[]);

-- set_lead_score as the lead_scoring migration made it.
create or replace function private.set_lead_score()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  new.score := public.lead_profile_score(new);
  return new;
end;
$$;
comment on function private.set_lead_score() is 'Trigger: keeps leads.score equal to lead_profile_score.';

drop function private.scoring_lock_key(uuid);
drop function private.lead_profile_points(public.leads);
drop function private.profile_contributions_sql(text, boolean);
drop function private.profile_rule_match_sql(text, text);
drop function private.compile_scoring_rule(public.scoring_rules);
drop table private.applied_scoring_rules;
