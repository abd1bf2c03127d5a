-- beacon-lead-changes without idle gaps in a burst (workflow_start_p95_s, docs/performance.md).
-- The loop slept a quarter second after every batch of fewer than 1,000 rows, though the
-- inserts of a burst had queued more meanwhile; now it sleeps only when the inbox was empty.
-- It still ends a second before the minute: pg_cron 1.4 (the local stack), while one job
-- runs, neither starts others nor sees jobs paused or changed (pg_cron issue #200, fixed in
-- 1.5), and that second is when it catches up; a run that went on into the next minute made
-- a job paused during it start once more. A late or repeated run is harmless: rows are claimed
-- with skip locked. (pg_cron 1.5+, as on hosted Supabase, also takes '1 seconds' schedules;
-- a run a second would wait up to a second too, and start a session per second.)
select cron.schedule(
  'beacon-lead-changes',
  '* * * * *',
  $job$do $changes$
declare
  ends constant timestamptz := date_trunc('minute', clock_timestamp()) + interval '59 seconds';
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
