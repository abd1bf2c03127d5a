alter table public.email_campaigns drop column error_message;
