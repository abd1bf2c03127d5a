drop trigger check_limits_after_update on public.scoring_rules;
drop trigger check_limits_after_insert on public.scoring_rules;
drop function private.check_scoring_rule_limits();
