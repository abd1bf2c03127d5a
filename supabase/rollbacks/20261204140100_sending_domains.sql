drop table public.sending_domains;
