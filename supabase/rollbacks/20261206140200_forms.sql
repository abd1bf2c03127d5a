-- Back to no forms and no consent records.
drop function private.submit_form(uuid, text, jsonb, jsonb, inet, text);
drop table public.consents;
drop table public.forms;
drop function private.check_form_lists();
