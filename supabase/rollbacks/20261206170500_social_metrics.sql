select cron.unschedule('beacon-social-metrics');
drop function private.wake_social_metrics();
drop function private.record_social_metrics(jsonb);
drop function private.social_metrics_problem(jsonb);
drop function private.claim_social_metrics(integer);
drop index public.social_posts_metrics_due_idx;
