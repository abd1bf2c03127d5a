drop table public.collect_settings;
