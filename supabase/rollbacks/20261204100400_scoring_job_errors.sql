drop function private.record_scoring_error(uuid, text);
drop function private.scoring_job_error(text, text);
drop trigger clear_last_error on public.scoring_rules;
drop function private.clear_scoring_rule_error();
alter table private.scoring_rescores
  drop column last_error,
  drop column failed_at;
alter table public.scoring_settings drop column last_error;
alter table public.scoring_rules drop column last_error;
