drop table public.leads;
