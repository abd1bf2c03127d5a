select cron.unschedule(jobid) from cron.job where jobname = 'beacon-purge-oauth-states';
drop function private.purge_expired_oauth_states();
drop table private.oauth_states;
