select cron.unschedule(jobid) from cron.job where jobname = 'beacon-email-tick';
