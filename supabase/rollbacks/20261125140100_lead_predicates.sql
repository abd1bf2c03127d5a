drop function private.event_filter_problem(text, jsonb, text);
drop function private.comparison_problem(text, jsonb);
drop function private.unknown_key(jsonb, text[]);
drop function private.value_matches(jsonb, text, jsonb);
drop function private.value_match_sql(text, text, text);
drop function private.free_mail_domains();
