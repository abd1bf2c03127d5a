select cron.unschedule(jobid) from cron.job where jobname = 'beacon-purge-rate-limits';
drop function private.purge_rate_limits();
drop function private.rate_limit_hit(text, text, integer, integer);
drop table private.rate_limit_counters;
