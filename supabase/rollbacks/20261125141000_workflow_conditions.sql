drop function private.lead_matches(public.leads, jsonb);
drop function private.lead_conditions_problem(text, jsonb);
