drop table public.analytics_events;
