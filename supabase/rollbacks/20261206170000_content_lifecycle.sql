drop trigger enforce_lifecycle on public.content;
drop function private.enforce_content_lifecycle();

revoke insert, update on table public.content from authenticated;
grant insert, update on table public.content to authenticated;

drop index public.content_scheduled_at_due_idx;
drop index public.content_campaign_id_user_id_idx;

-- The statuses this migration added have no place in the old check.
update public.content set status = 'draft' where status in ('publishing', 'failed');

alter table public.content
  drop constraint content_campaign_fkey,
  drop constraint content_status_check,
  add constraint content_status_check check (status in ('draft', 'published', 'scheduled', 'archived')),
  drop column campaign_id,
  drop column published_at;

comment on column public.content.status is null;
