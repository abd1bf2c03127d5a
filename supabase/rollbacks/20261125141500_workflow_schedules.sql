select cron.unschedule(jobid) from cron.job where jobname = 'beacon-workflow-schedules';
drop function private.fire_scheduled_workflows(timestamptz);
