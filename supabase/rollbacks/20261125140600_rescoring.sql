select cron.unschedule(jobid) from cron.job where jobname = 'beacon-apply-scoring-rules';
drop trigger request_rescore on public.scoring_settings;
drop trigger request_rescore on public.scoring_rules;
drop function private.apply_scoring_changes();
drop function private.rescore_leads(uuid);
drop function private.request_rescore();
drop table private.scoring_rescores;
