-- beacon-lead-changes without idle gaps (workflow_start_p95_s, docs/performance.md). The loop
-- slept a quarter second after every batch of fewer than 1,000 rows, though the inserts of a
-- burst had queued more meanwhile, and it ended a second before the minute, leaving the inbox
-- unwatched until pg_cron started the next run. Now it sleeps only when the inbox was empty,
-- and runs until the next minute has begun: pg_cron runs one instance of a job at a time and
-- starts a run that came due meanwhile as soon as this one ends, so the runs follow each
-- other with no gap. A late or repeated run is harmless: rows are claimed with skip locked.
-- (pg_cron 1.5+, as on hosted Supabase, also takes '1 seconds' schedules; a run a second
-- would still wait up to a second, and 1.4, installed locally, has no such schedule.)
select cron.schedule(
  'beacon-lead-changes',
  '* * * * *',
  $job$do $changes$
declare
  ends constant timestamptz := date_trunc('minute', clock_timestamp()) + interval '1 minute';
begin
  while clock_timestamp() < ends
    and exists (select from cron.job where jobname = 'beacon-lead-changes' and active) loop
    if private.expand_lead_changes(1000) = 0 then
      -- The sleep gets a transaction of its own, so that each expansion's now() (the
      -- executions' started_at) is when it ran.
      commit;
      perform pg_sleep(0.25);
    end if;
    commit;
  end loop;
end;
$changes$$job$
);
