select cron.unschedule(jobid) from cron.job where jobname = 'beacon-purge-email-unsubscribe-keys';
drop function private.purge_email_unsubscribe_keys();
drop trigger keep_unsubscribe_keys on public.email_campaigns;
drop function private.keep_email_unsubscribe_keys();
drop table private.email_unsubscribe_keys;
