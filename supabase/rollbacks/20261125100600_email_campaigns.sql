drop table public.email_campaigns;
