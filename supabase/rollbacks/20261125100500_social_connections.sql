drop table public.social_connections;
