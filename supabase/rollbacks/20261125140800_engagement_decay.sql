select cron.unschedule(jobid) from cron.job where jobname = 'beacon-decay-engagement';
drop function private.decay_engagement();
