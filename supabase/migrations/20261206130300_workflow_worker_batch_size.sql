-- The set-based worker (20261206130200) pays per round and step, not per execution, so it
-- takes batches of 2,000 (was 200): each batch committed, for up to 50 seconds; the next run
-- takes over. The stable job name makes re-running update the job.
select cron.schedule(
  'beacon-workflow-worker',
  '* * * * *',
  $job$do $worker$
declare
  started constant timestamptz := clock_timestamp();
begin
  while private.run_workflow_batch(2000) > 0 and clock_timestamp() < started + interval '50 seconds' loop
    commit;
  end loop;
end;
$worker$$job$
);
