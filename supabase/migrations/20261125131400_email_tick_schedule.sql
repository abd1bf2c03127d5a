-- Every minute pg_cron runs the email tick (private.email_tick): due campaigns start, done
-- ones finish, metrics catch up, and dispatch is woken through pg_net where it exists.
-- A stable job name: re-running the migration updates the job instead of adding another.

select cron.schedule(
  'beacon-email-tick',
  '* * * * *',
  'select private.email_tick()'
);
