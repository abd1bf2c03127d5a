-- Every 15 minutes pg_cron asks the oauth function to refresh the social tokens that expire
-- within 24 hours (POST /functions/v1/oauth/refresh). private.call_function goes through
-- pg_net where it exists (hosted Supabase); where it does not (the local stack) it returns
-- null and the local stack's loop in scripts/start makes the same call on its own.
-- A stable job name: re-running the migration updates the job instead of adding another.

select cron.schedule(
  'beacon-refresh-social-tokens',
  '*/15 * * * *',
  $$select private.call_function('/oauth/refresh')$$
);
