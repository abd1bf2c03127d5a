drop table public.email_suppressions;
