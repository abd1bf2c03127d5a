drop function private.jsonb_integer_problem(jsonb, text, integer, integer);
drop function private.jsonb_integer(jsonb);
