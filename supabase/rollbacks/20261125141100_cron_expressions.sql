drop function private.parse_cron(text);
drop function private.cron_field_values(text, text, integer, integer, text[]);
