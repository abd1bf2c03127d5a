-- Rollback of 20261204110400_workflow_worker_quotas: the worker's batch as
-- 20261125141800_workflow_worker defined it, claiming the oldest due runs whoever owns them.
create or replace function private.run_workflow_batch(max_executions integer default 100)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  run private.workflow_runs;
  processed integer := 0;
begin
  for run in
    select r.*
    from private.workflow_runs as r
    where r.run_after <= now()
    order by r.run_after
    limit max_executions
    for update skip locked
  loop
    perform private.run_workflow_execution(run);
    processed := processed + 1;
  end loop;
  if exists (
    select from private.webhook_queue as q
    where q.status = 'pending' and coalesce(q.lease_until, q.run_after) <= now()
  ) then
    perform private.call_function('/dispatch');
  end if;
  return processed;
end;
$$;
comment on function private.run_workflow_batch(integer) is
  'Runs up to max_executions due workflow executions (claimed with skip locked); wakes dispatch for queued webhooks. Returns how many ran.';

drop function private.claim_workflow_runs(integer);
drop table private.workflow_quotas;
drop function private.default_workflow_executions_per_minute();
drop index private.workflow_runs_user_id_run_after_idx;
create index workflow_runs_run_after_idx on private.workflow_runs (run_after);
