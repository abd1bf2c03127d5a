drop table public.campaigns;
