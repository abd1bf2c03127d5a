-- Rollback of 20261206130200_workflow_worker_set_based: the worker's batch as
-- 20261204110400_workflow_worker_quotas defined it (one execution at a time).
create or replace function private.run_workflow_batch(max_executions integer default 100)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  run private.workflow_runs;
  ran_for uuid[] := '{}'::uuid[];
begin
  for run in select * from private.claim_workflow_runs(max_executions) loop
    perform private.run_workflow_execution(run);
    ran_for := ran_for || run.user_id;
  end loop;
  insert into private.workflow_quotas as q (user_id, minute, executions)
  select o.user_id, date_trunc('minute', now()), count(*)
  from unnest(ran_for) as o (user_id)
  group by o.user_id
  on conflict (user_id) do update
  set executions = case when q.minute = excluded.minute then q.executions + excluded.executions else excluded.executions end,
      minute = excluded.minute;
  if exists (
    select from private.webhook_queue as q
    where q.status = 'pending' and coalesce(q.lease_until, q.run_after) <= now()
  ) then
    perform private.call_function('/dispatch');
  end if;
  return cardinality(ran_for);
end;
$$;
comment on function private.run_workflow_batch(integer) is
  'Runs up to max_executions due workflow executions, claimed fairly across owners within their quotas (private.claim_workflow_runs); wakes dispatch for queued webhooks. Returns how many ran.';
drop function private.run_workflow_steps(private.workflow_runs[]);
drop function private.run_workflow_step(uuid, uuid[], jsonb, uuid[]);
drop type private.workflow_batch_entry;
