drop table public.scoring_settings;
