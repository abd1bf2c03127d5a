select cron.unschedule(jobid) from cron.job where jobname = 'beacon-purge-jobs';
drop function private.purge_jobs();
drop function private.cancel_jobs(text, uuid, text);
drop function private.hold_jobs(text, uuid, boolean);
drop function private.complete_jobs(text, jsonb);
drop function private.job_result_problem(jsonb, integer);
drop function private.claim_jobs(text, integer);
drop function private.job_kind(text, text);
drop function private.register_job_kind(text, integer, integer);
drop table private.jobs;
drop table private.job_kinds;
-- queue_result_problem as 20261125131100_email_complete defined it.
create or replace function private.queue_result_problem(result jsonb, i integer, id_key text, id_noun text)
returns text
language sql
immutable
set search_path = ''
as $$
  select coalesce(
    case when jsonb_typeof(result) <> 'object' then format('results[%s]: expected an object, not %s', i, result) end,
    case when jsonb_typeof(result -> id_key) is distinct from 'string'
              or lower(result ->> id_key) !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
      format('results[%s].%s: %s is not a %s id', i, id_key, coalesce(result -> id_key, 'null'), id_noun)
    end,
    case when (result ->> 'outcome') is null or (result ->> 'outcome') not in ('sent', 'retry', 'failed') then
      format('results[%s].outcome: %s is not sent, retry or failed', i, coalesce(result -> 'outcome', 'null'))
    end,
    case when jsonb_typeof(result -> 'error') not in ('string', 'null') then
      format('results[%s].error: expected a string, not %s', i, result -> 'error')
    end,
    case
      when jsonb_typeof(result -> 'retry_after_seconds') not in ('number', 'null') then
        format('results[%s].retry_after_seconds: expected a number of seconds, not %s', i,
               result -> 'retry_after_seconds')
      when (result ->> 'retry_after_seconds')::numeric not between 0 and 86400
        or (result ->> 'retry_after_seconds')::numeric % 1 <> 0 then
        format('results[%s].retry_after_seconds: expected a whole number from 0 to 86400, not %s', i,
               result -> 'retry_after_seconds')
    end
  )
$$;
drop function private.retry_after_problem(jsonb, text);
