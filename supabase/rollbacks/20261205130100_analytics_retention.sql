select cron.unschedule(jobid) from cron.job where jobname = 'beacon-analytics-retention';
drop function private.apply_analytics_retention(timestamptz);
drop table private.analytics_retention_failures;
alter table public.collect_settings drop column retention_days;
