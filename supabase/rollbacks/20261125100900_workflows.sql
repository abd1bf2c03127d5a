drop table public.workflows;
