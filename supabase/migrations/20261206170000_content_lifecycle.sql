-- The life of a content item, enforced by the database:
--
--   draft ──► scheduled ──► publishing ──► published | failed
--     ▲           │
--     └───────────┘            any ──► archived (final)
--   failed ──► draft (fix it and schedule again)
--
-- A signed-in client (current_user = authenticated) may schedule a draft, take a scheduled
-- item back to draft, take a failed one back to draft and archive anything. Publishing
-- (scheduled → publishing → published | failed) belongs to the system: pg_cron's
-- beacon-publish-due-content and the dispatcher's settlement, running as postgres or the
-- service. Content that is not a social post has nothing to send, so a client may also mark
-- a draft or scheduled item published itself (a blog post is published where it is hosted),
-- and the system marks scheduled ones published at their time. Published content never goes
-- back to draft. published_at is written by this trigger only (column privileges keep
-- clients off it), and while a social post is publishing or published its text is frozen:
-- the dispatcher reads it when it claims each target.
--
-- Social posts scheduled before this migration had no targets and nothing that would ever
-- publish them: they go back to draft, where their owner can add targets and schedule again.

alter table public.content
  add column published_at timestamptz,
  add column campaign_id uuid,
  drop constraint content_status_check,
  add constraint content_status_check
    check (status in ('draft', 'scheduled', 'publishing', 'published', 'failed', 'archived')),
  add constraint content_campaign_fkey foreign key (campaign_id, user_id)
    references public.campaigns (id, user_id) on delete set null (campaign_id);

comment on column public.content.status is
  'draft, scheduled (publishes at scheduled_at), publishing, published, failed (some target failed) or archived.';
comment on column public.content.published_at is
  'When the item became published (for a social post: when its last target was published); set by the database.';
comment on column public.content.campaign_id is
  'The campaign this item belongs to (same owner); its social metrics are reported under it.';

create index content_campaign_id_user_id_idx on public.content (campaign_id, user_id);
-- What beacon-publish-due-content scans every minute: only scheduled rows, by time.
create index content_scheduled_at_due_idx on public.content (scheduled_at) where status = 'scheduled';

update public.content
set status = 'draft'
where status = 'scheduled'
  and content_type = 'social_post';

revoke insert, update on table public.content from authenticated;
grant insert (id, user_id, title, content_type, content, metadata, status, scheduled_at, created_at, updated_at,
              campaign_id)
  on table public.content to authenticated;
grant update (id, user_id, title, content_type, content, metadata, status, scheduled_at, created_at, updated_at,
              campaign_id)
  on table public.content to authenticated;

-- Security invoker on purpose: current_user tells a client from the system.
create function private.enforce_content_lifecycle()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  by_client constant boolean := current_user = 'authenticated';
  social constant boolean := new.content_type = 'social_post';
  allowed text[];
begin
  if tg_op = 'INSERT' then
    -- Unknown statuses are left to content_status_check, which names them.
    if new.status in ('publishing', 'failed') or (social and new.status = 'published') then
      raise exception using
        errcode = 'check_violation',
        message = format('new %s content cannot start as %s', new.content_type, new.status),
        hint = case when social
          then 'Create it as draft, add its social_posts targets, then set status scheduled with scheduled_at.'
          else 'Create it as draft, scheduled (with scheduled_at) or published.' end;
    end if;
    if new.status = 'published' then
      new.published_at := coalesce(new.published_at, now());
    end if;
    return new;
  end if;

  if old.status in ('publishing', 'published') and old.content_type = 'social_post'
     and (new.content is distinct from old.content or new.content_type is distinct from old.content_type) then
    raise exception using
      errcode = 'check_violation',
      message = format('content of a social post cannot change once it is %s', old.status),
      hint = 'Create a new content item to post something else.';
  end if;

  if new.status = old.status
     or new.status not in ('draft', 'scheduled', 'publishing', 'published', 'failed', 'archived') then
    return new;
  end if;

  allowed := case old.status
    when 'draft' then case when social then array['scheduled', 'archived']
                           else array['scheduled', 'published', 'archived'] end
    when 'scheduled' then case
      when social and by_client then array['draft', 'archived']
      when social then array['draft', 'publishing', 'archived']
      else array['draft', 'published', 'archived'] end
    when 'publishing' then case when by_client then array['archived']
                                else array['published', 'failed', 'archived'] end
    when 'published' then array['archived']
    when 'failed' then array['draft', 'archived']
    else array[]::text[]
  end;
  if new.status <> all (allowed) then
    raise exception using
      errcode = 'check_violation',
      message = format('content cannot move from %s to %s: %s', old.status, new.status,
        case when cardinality(allowed) = 0 then format('%s is final', old.status)
             else format('from %s it may move to %s', old.status, array_to_string(allowed, ' or ')) end),
      hint = case
        when new.status in ('publishing', 'published', 'failed') and social then
          'A scheduled social post is published by Beacon at scheduled_at, to every target in social_posts.'
        when cardinality(allowed) = 0 then 'Create a new content item instead.'
        when old.status = 'published' then 'Published content cannot go back to draft; archive it or create a new item.'
        else 'Schedule a draft (with scheduled_at), take a scheduled item back to draft, or archive it.'
      end;
  end if;
  if new.status = 'published' then
    new.published_at := coalesce(new.published_at, now());
  end if;
  return new;
end;
$$;
comment on function private.enforce_content_lifecycle() is
  'Trigger: allows only the content lifecycle''s moves (clients fewer than the system), sets published_at, freezes a publishing social post.';
revoke all on function private.enforce_content_lifecycle() from public, anon, authenticated, service_role;

create trigger enforce_lifecycle
before insert or update on public.content
for each row execute function private.enforce_content_lifecycle();
