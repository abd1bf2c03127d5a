select cron.unschedule(jobid) from cron.job where jobname = 'beacon-purge-processed-webhooks';
drop function private.purge_processed_webhooks();
drop table private.processed_webhooks;
