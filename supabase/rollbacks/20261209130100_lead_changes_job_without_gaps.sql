-- Rollback of 20261209130100_lead_changes_job_without_gaps: the loop of
-- 20261206120000_lead_changes again (a quarter second's sleep after every batch under 1,000
-- rows).
select cron.schedule(
  'beacon-lead-changes',
  '* * * * *',
  $job$do $changes$
declare
  ends constant timestamptz := date_trunc('minute', clock_timestamp()) + interval '59 seconds';
  claimed integer;
begin
  while clock_timestamp() < ends
    and exists (select from cron.job where jobname = 'beacon-lead-changes' and active) loop
    claimed := private.expand_lead_changes(1000);
    commit;
    -- The sleep gets a transaction of its own, so that each expansion's now() (the
    -- executions' started_at) is when it ran.
    if claimed < 1000 then
      perform pg_sleep(0.25);
      commit;
    end if;
  end loop;
end;
$changes$$job$
);
