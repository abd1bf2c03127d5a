-- Rollback of 20261206130300_workflow_worker_batch_size: batches of 200 again.
select cron.schedule(
  'beacon-workflow-worker',
  '* * * * *',
  $job$do $worker$
declare
  started constant timestamptz := clock_timestamp();
begin
  while private.run_workflow_batch(200) > 0 and clock_timestamp() < started + interval '50 seconds' loop
    commit;
  end loop;
end;
$worker$$job$
);
