-- social_posts: where a social content item goes, one row per content × target (a connection,
-- and for Facebook pages or LinkedIn organisations one of its accounts). The owner writes the
-- target (connection, account, an optional text of its own, media URLs); Beacon writes how the
-- publishing went (status, the platform's post id and URL, error, attempts, metrics).
--
-- Validation, with the path of the problem in each error (social_posts[n] counts a content
-- item's targets from 1 in the order they were added):
--   - when a target is written: its content is a social post in draft or scheduled, the
--     account is one of the connection's, the text fits the platform (X: weighted length
--     <= 280 by private.x_weighted_length; LinkedIn 3,000; Facebook 63,206; Instagram 2,200
--     and at most 30 hashtags), media URLs are https://, Instagram has a medium, X at most 4;
--   - when its content becomes scheduled (or its text changes while scheduled): all of the
--     above for every target with the content's text where a target has none, at least one
--     target, and every target's connection active with the platform's posting scope.

alter table public.social_connections
  add constraint social_connections_id_user_id_key unique (id, user_id);

create table public.social_posts (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  content_id uuid not null,
  social_connection_id uuid not null,
  account_id text,
  text text,
  media_urls text[] not null default '{}',
  status text not null default 'pending',
  platform_post_id text,
  url text,
  error text,
  attempts integer not null default 0,
  published_at timestamptz,
  metrics jsonb not null default '{}',
  metrics_fetched_at timestamptz,
  marker text not null default left(replace(gen_random_uuid()::text, '-', ''), 16),
  -- clock_timestamp: the targets of one multi-row insert keep the order they were sent in, which
  -- is the order the errors' social_posts[n] count in.
  created_at timestamptz not null default clock_timestamp(),
  updated_at timestamptz not null default now(),
  constraint social_posts_content_fkey foreign key (content_id, user_id)
    references public.content (id, user_id) on delete cascade,
  constraint social_posts_connection_fkey foreign key (social_connection_id, user_id)
    references public.social_connections (id, user_id) on delete cascade,
  constraint social_posts_target_key unique nulls not distinct (content_id, user_id, social_connection_id, account_id),
  constraint social_posts_account_id_check check (account_id ~ '\S' and length(account_id) <= 200),
  constraint social_posts_text_check check (length(text) <= 63206),
  constraint social_posts_media_urls_check
    check (array_position(media_urls, null) is null and cardinality(media_urls) <= 10),
  constraint social_posts_status_check
    check (status in ('pending', 'publishing', 'published', 'failed', 'cancelled')),
  constraint social_posts_platform_post_id_check check (length(platform_post_id) <= 200),
  constraint social_posts_url_check check (length(url) <= 2048),
  constraint social_posts_error_check check (length(error) <= 2000),
  constraint social_posts_attempts_check check (attempts >= 0),
  constraint social_posts_metrics_check check (jsonb_typeof(metrics) = 'object'),
  constraint social_posts_marker_check check (marker ~ '^[0-9a-f]{16}$')
);
comment on table public.social_posts is
  'Targets of social content (one per connection and account): written by the owner, published and measured by Beacon.';
comment on column public.social_posts.account_id is
  'One of the connection''s accounts (a Facebook page, a LinkedIn organisation); null: the connected user''s own.';
comment on column public.social_posts.text is 'This target''s text; null: the content''s.';
comment on column public.social_posts.media_urls is 'https:// URLs of images or videos to attach (Instagram needs one).';
comment on column public.social_posts.status is
  'pending, publishing, published, failed (see error) or cancelled (its content was archived); set by Beacon.';
comment on column public.social_posts.attempts is 'Publishing attempts made so far.';
comment on column public.social_posts.metrics is
  'The platform''s public counts (likes, comments, shares, impressions), fetched for 7 days after publishing.';
comment on column public.social_posts.marker is
  'A token fixed at creation that the dispatcher uses to find this post among the account''s recent ones after a timeout.';

create index social_posts_user_id_created_at_idx on public.social_posts (user_id, created_at desc);
create index social_posts_connection_idx on public.social_posts (social_connection_id, user_id);

create trigger set_updated_at
before update on public.social_posts
for each row execute function private.set_updated_at();

select private.secure_tenant_table('public.social_posts');
grant select, delete on table public.social_posts to authenticated;
grant insert (id, user_id, content_id, social_connection_id, account_id, text, media_urls)
  on table public.social_posts to authenticated;
grant update (social_connection_id, account_id, text, media_urls) on table public.social_posts to authenticated;

-- The scope each platform needs to publish (as the oauth function asks for it).
create function private.social_posting_scope(p_platform text)
returns text
language sql
immutable
parallel safe
set search_path = ''
as $$
  select case p_platform
    when 'twitter' then 'tweet.write'
    when 'linkedin' then 'w_member_social'
    when 'facebook' then 'pages_manage_posts'
    when 'instagram' then 'instagram_business_content_publish'
  end
$$;
comment on function private.social_posting_scope(text) is 'The OAuth scope a connection needs to publish on its platform.';

-- The first problem of one target, or null. `at` is its path (social_posts[n]); `body` the
-- content's text; `scheduling` adds the checks on the connection's present state.
create function private.social_target_problem(
  t public.social_posts, at text, body text, scheduling boolean
)
returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  conn public.social_connections;
  post_text constant text := coalesce(t.text, body);
  text_at constant text := at || case when t.text is null then '.text (the content''s text)' else '.text' end;
  bad_media integer;
begin
  select c.* into conn from public.social_connections as c where c.id = t.social_connection_id and c.user_id = t.user_id;
  if conn.id is null then
    return format('%s.social_connection_id: %s is not one of your social connections', at, t.social_connection_id);
  end if;
  if scheduling and (conn.status <> 'active' or not conn.is_active) then
    return format('%s.social_connection_id: the %s connection is %s; connect it again before scheduling',
      at, conn.platform, conn.status);
  end if;
  if scheduling and private.social_posting_scope(conn.platform) <> all (conn.scopes) then
    return format('%s.social_connection_id: the %s connection was not granted %s; connect it again and allow posting',
      at, conn.platform, private.social_posting_scope(conn.platform));
  end if;
  if t.account_id is not null and not exists (
    select from jsonb_array_elements(conn.accounts) as a where a ->> 'id' = t.account_id
  ) then
    return format('%s.account_id: %s is not one of the %s connection''s accounts', at, t.account_id, conn.platform);
  end if;
  if conn.platform = 'facebook' and t.account_id is null then
    return format('%s.account_id: a Facebook post goes to a page; set account_id to one of the connection''s accounts', at);
  end if;

  if conn.platform = 'twitter' and private.x_weighted_length(post_text) > 280 then
    return format('%s: X counts %s characters (URLs 23, emoji and CJK 2); at most 280', text_at,
      private.x_weighted_length(post_text));
  elsif conn.platform = 'linkedin' and length(post_text) > 3000 then
    return format('%s: %s characters; LinkedIn allows at most 3000', text_at, length(post_text));
  elsif conn.platform = 'facebook' and length(post_text) > 63206 then
    return format('%s: %s characters; Facebook allows at most 63206', text_at, length(post_text));
  elsif conn.platform = 'instagram' and length(post_text) > 2200 then
    return format('%s: %s characters; an Instagram caption allows at most 2200', text_at, length(post_text));
  elsif conn.platform = 'instagram'
        and regexp_count(post_text, '(^|[^[:alnum:]_&])#[[:alnum:]_]+') > 30 then
    return format('%s: %s hashtags; Instagram allows at most 30', text_at,
      regexp_count(post_text, '(^|[^[:alnum:]_&])#[[:alnum:]_]+'));
  end if;

  select min(m.n) into bad_media
  from unnest(t.media_urls) with ordinality as m (url, n)
  where m.url !~ '^https://[^/\s]+\.[^/\s]+(/\S*)?$';
  if bad_media is not null then
    return format('%s.media_urls[%s]: %s is not an https:// URL', at, bad_media, t.media_urls[bad_media]);
  end if;
  if conn.platform = 'instagram' and cardinality(t.media_urls) = 0 then
    return format('%s.media_urls: an Instagram post needs at least one image or video URL', at);
  end if;
  if conn.platform = 'twitter' and cardinality(t.media_urls) > 4 then
    return format('%s.media_urls: %s media; a post on X takes at most 4', at, cardinality(t.media_urls));
  end if;
  return null;
end;
$$;
comment on function private.social_target_problem(public.social_posts, text, text, boolean) is
  'The first problem of one social post target (path, connection, account, text length per platform, media), or null.';

-- The first problem of a content item's targets for scheduling, or null.
create function private.social_content_problem(p_content_id uuid, p_body text)
returns text
language sql
stable
set search_path = ''
as $$
  select coalesce(
    (select problem
     from (
       select private.social_target_problem(t, format('social_posts[%s]', n), p_body, true) as problem, n
       from (
         select t, row_number() over (order by t.created_at, t.id) as n
         from public.social_posts as t
         where t.content_id = p_content_id
       ) as numbered
     ) as checked
     where problem is not null
     order by n
     limit 1),
    case when not exists (select from public.social_posts as t where t.content_id = p_content_id)
      then 'social_posts: a social post needs at least one target; add a social_posts row for each account to publish to'
    end)
$$;
comment on function private.social_content_problem(uuid, text) is
  'Why a social content item cannot be scheduled (its first target problem, or no target), or null.';

-- Security definer: apps schedule content and write targets, and may not call into the private
-- schema. Each checks first that the row is the caller's (a client's) or that the caller is the
-- system, and reads only that owner's rows. Neither needs to tell a client from the system
-- otherwise: the system never writes what they check.
create function private.check_social_content()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  problem text;
begin
  -- Ownership first (issue 8): a client's row for another owner reads nothing here; RLS refuses it.
  if new.user_id is distinct from coalesce((select auth.uid()), new.user_id) then
    return new;
  end if;
  if tg_op = 'INSERT' then
    problem := 'social_posts: a social post needs at least one target before it is scheduled';
  else
    problem := private.social_content_problem(new.id, new.content);
  end if;
  if problem is not null then
    raise exception using
      errcode = 'check_violation',
      message = problem,
      hint = case when tg_op = 'INSERT'
        then 'Create the content as draft, add its social_posts, then set status scheduled.'
        else 'Fix the target (or take it out), then schedule again.' end;
  end if;
  return new;
end;
$$;
comment on function private.check_social_content() is
  'Trigger: a social post is scheduled only with targets that can publish it (social_content_problem).';

create trigger check_targets
before insert or update of status, content, content_type on public.content
for each row
when (new.status = 'scheduled' and new.content_type = 'social_post')
execute function private.check_social_content();

create function private.check_social_post()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  item public.content;
  target public.social_posts := case when tg_op = 'DELETE' then old else new end;
  position integer;
  problem text;
begin
  -- Ownership first (issue 8): a client's row for another owner reads nothing here; RLS refuses it.
  if target.user_id is distinct from coalesce((select auth.uid()), target.user_id) then
    return target;
  end if;
  select c.* into item from public.content as c where c.id = target.content_id and c.user_id = target.user_id;
  select count(*) + 1 into position
  from public.social_posts as t
  where t.content_id = target.content_id and (t.created_at, t.id) < (target.created_at, target.id);

  if tg_op = 'DELETE' then
    -- A cascade from the content (or the user) finds it gone already.
    if item.status in ('publishing', 'published') then
      problem := format('social_posts[%s]: a target of %s content cannot be removed', position, item.status);
    elsif item.status = 'scheduled'
          and not exists (select from public.social_posts as t where t.content_id = item.id and t.id <> old.id) then
      problem := format('social_posts[%s]: the last target of scheduled content cannot be removed; take the content back to draft first', position);
    end if;
  elsif tg_op = 'UPDATE'
        and (new.content_id, new.social_connection_id, new.account_id, new.text, new.media_urls, new.user_id)
            is not distinct from (old.content_id, old.social_connection_id, old.account_id, old.text, old.media_urls, old.user_id) then
    -- Beacon's own columns (status, platform_post_id, metrics, ...): nothing to check.
    return new;
  elsif item.id is null then
    problem := format('social_posts[%s].content_id: %s is not one of your content items', position, target.content_id);
  elsif item.content_type <> 'social_post' then
    problem := format('social_posts[%s].content_id: content %s is a %s; only social_post content is published to social accounts',
      position, target.content_id, item.content_type);
  elsif item.status not in ('draft', 'scheduled') then
    problem := format('social_posts[%s]: targets change only while their content is draft or scheduled (it is %s)',
      position, item.status);
  else
    problem := private.social_target_problem(new, format('social_posts[%s]', position), item.content,
      item.status = 'scheduled');
  end if;
  if problem is not null then
    raise exception using errcode = 'check_violation', message = problem;
  end if;
  return target;
end;
$$;
comment on function private.check_social_post() is
  'Trigger: a target is written only for draft or scheduled social content, valid for its platform; scheduled content keeps one.';

create trigger check_target
before insert or update or delete on public.social_posts
for each row execute function private.check_social_post();

-- Archived content publishes nothing more; content taken back from failed to draft publishes its
-- failed targets again when it is scheduled (published ones stay published).
create function private.sync_social_post_status()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.status = 'archived' then
    update public.social_posts set status = 'cancelled' where content_id = new.id and status = 'pending';
  elsif new.status = 'draft' then
    update public.social_posts set status = 'pending', error = null
    where content_id = new.id and status in ('failed', 'cancelled');
  end if;
  return null;
end;
$$;
comment on function private.sync_social_post_status() is
  'Trigger: archiving content cancels its pending targets; back to draft makes failed targets pending again.';

create trigger sync_targets
after update of status on public.content
for each row
when (new.status is distinct from old.status and new.status in ('archived', 'draft'))
execute function private.sync_social_post_status();

revoke all on function private.social_posting_scope(text),
  private.social_target_problem(public.social_posts, text, text, boolean),
  private.social_content_problem(uuid, text),
  private.check_social_content(), private.check_social_post(), private.sync_social_post_status()
  from public, anon, authenticated, service_role;
