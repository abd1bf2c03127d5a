select cron.unschedule('beacon-publish-due-content');
drop function private.complete_social_posts(jsonb);
drop function private.social_result_problem(jsonb);
drop function private.claim_social_posts(integer);
drop function private.publish_due_content(integer);
drop function private.publish_due_content_batch(uuid, integer);
drop function private.settle_social_content(uuid[]);
drop index public.social_posts_content_status_idx;
drop trigger check_target_change on public.social_posts;
drop trigger check_target on public.social_posts;
create trigger check_target
before insert or update or delete on public.social_posts
for each row execute function private.check_social_post();
alter table public.content drop column publish_error;
-- The social_publish kind and its jobs stay: the queue's rows are its own, and re-applying
-- registers the kind again (an upsert).
