drop table public.content;
