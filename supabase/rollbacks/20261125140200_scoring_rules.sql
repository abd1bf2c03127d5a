drop table public.scoring_rules;
drop function private.check_scoring_rule();
drop function private.scoring_rule_problem(jsonb);
