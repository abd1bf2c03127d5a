select cron.unschedule(jobid) from cron.job where jobname = 'beacon-refresh-social-tokens';
