select cron.unschedule(jobid) from cron.job where jobname = 'beacon-workflow-worker';
drop function private.run_workflow_batch(integer);
drop function private.run_workflow_execution(private.workflow_runs);
