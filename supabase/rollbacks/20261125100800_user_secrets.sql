drop table public.user_secrets;
