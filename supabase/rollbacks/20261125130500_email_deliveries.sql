drop table public.email_deliveries;
