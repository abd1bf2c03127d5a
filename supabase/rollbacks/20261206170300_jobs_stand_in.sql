drop function private.complete_jobs(text, jsonb);
drop function private.claim_jobs(text, integer);
drop function private.register_job_kind(text, integer, integer);
drop table private.jobs;
drop table private.job_kinds;
