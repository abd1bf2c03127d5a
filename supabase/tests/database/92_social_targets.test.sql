-- social_posts, the targets of social content (migration social_posts): RLS (the owner reads
-- and writes her own; no target on another owner's content or connection), column privileges
-- (Beacon's columns are not writable by clients), and validation with the path of each problem,
-- when a target is written and when its content is scheduled.
begin;
\ir _helpers.psql

select plan(44);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

-- A connection of `owner` on `platform` with `scopes` and `accounts`; returns its id.
create function tests.connect(owner text, platform text, scopes text[], accounts jsonb default '[]')
returns uuid
language sql
as $$
  insert into public.social_connections (user_id, platform, platform_user_id, access_token, scopes, accounts)
  values (tests.get_user_id(owner), platform, platform || '-' || owner, 'v1:ciphertext', scopes, accounts)
  returning id
$$;

create table tests.ids as
select
  tests.connect('alice', 'twitter', '{tweet.read,tweet.write}') as x,
  tests.connect('alice', 'linkedin', '{openid,w_member_social}', '[{"id": "urn:li:organization:7", "name": "Beacon"}]') as linkedin,
  tests.connect('alice', 'facebook', '{pages_show_list}', '[{"id": "page-1", "name": "Beacon page"}]') as facebook,
  tests.connect('alice', 'instagram', '{instagram_business_basic,instagram_business_content_publish}') as instagram,
  tests.connect('mallory', 'twitter', '{tweet.write}') as mallory_x,
  tests.insert_row('content', 'alice', '{"content_type": "social_post", "content": "Spring is here", "scheduled_at": "2030-01-01T09:00:00Z"}') as post,
  tests.insert_row('content', 'alice', '{"content_type": "blog_post"}') as blog,
  tests.insert_row('content', 'mallory', '{"content_type": "social_post"}') as mallory_post;
grant select on tests.ids to authenticated;

-- `sql` as `actor` (alice unless named), undone (tests.attempt).
create function tests.try(sql text, actor text default 'alice')
returns text
language sql
as $$
  select tests.attempt(sql, actor)
$$;

-- Inserts a target of alice's post on `connection` with `extra` columns (a "col = value" list
-- as json), as alice.
create function tests.target_sql(connection text, extra jsonb default '{}', content text default 'post')
returns text
language sql
as $$
  select format(
    'insert into public.social_posts (content_id, social_connection_id%s) select %s, %s%s from tests.ids',
    (select coalesce(string_agg(', ' || key, '' order by key), '') from jsonb_each(extra)),
    content, connection,
    (select coalesce(string_agg(', ' || (value #>> '{}'), '' order by key), '') from jsonb_each(extra)))
$$;

-- Writing targets -------------------------------------------------------------------------
select is(tests.try(tests.target_sql('x')), 'ok', 'alice targets her X connection');
select is(tests.try(tests.target_sql('linkedin', '{"account_id": "''urn:li:organization:7''"}')), 'ok',
  '... and her LinkedIn organisation');
select is(
  tests.try(tests.target_sql('linkedin', '{"account_id": "''urn:li:organization:8''"}')),
  '23514: social_posts[1].account_id: urn:li:organization:8 is not one of the linkedin connection''s accounts',
  'an account the connection does not have is refused, by path'
);
select is(
  tests.try(tests.target_sql('facebook')),
  '23514: social_posts[1].account_id: a Facebook post goes to a page; set account_id to one of the connection''s accounts',
  'a Facebook target needs a page'
);
select is(
  tests.try(tests.target_sql('x', '{"text": "repeat(''日'', 141)"}')),
  '23514: social_posts[1].text: X counts 282 characters (URLs 23, emoji and CJK 2); at most 280',
  'X counts by weight: 141 CJK characters are 282'
);
select is(tests.try(tests.target_sql('x', '{"text": "repeat(''a'', 256) || '' https://example.com/a/long/path/indeed''"}')),
  'ok', '... and a URL counts 23: 256 letters, a space and a long URL make 280');
select is(
  tests.try(tests.target_sql('linkedin', '{"text": "repeat(''a'', 3001)"}')),
  '23514: social_posts[1].text: 3001 characters; LinkedIn allows at most 3000',
  'LinkedIn: 3000 characters'
);
select is(
  tests.try(tests.target_sql('facebook', '{"account_id": "''page-1''", "text": "repeat(''a'', 63206)"}')),
  'ok',
  'Facebook: 63206 characters'
);
select is(
  tests.try(tests.target_sql('instagram', '{"media_urls": "array[''https://cdn.example.com/a.jpg'']", "text": "repeat(''a'', 2201)"}')),
  '23514: social_posts[1].text: 2201 characters; an Instagram caption allows at most 2200',
  'Instagram: a 2200 character caption'
);
select is(
  tests.try(tests.target_sql('instagram', '{"media_urls": "array[''https://cdn.example.com/a.jpg'']", "text": "(select string_agg(''#tag'' || n, '' '') from generate_series(1, 31) as n)"}')),
  '23514: social_posts[1].text: 31 hashtags; Instagram allows at most 30',
  '... and at most 30 hashtags'
);
select is(
  tests.try(tests.target_sql('instagram')),
  '23514: social_posts[1].media_urls: an Instagram post needs at least one image or video URL',
  '... and an image or a video'
);
select is(
  tests.try(tests.target_sql('x', '{"media_urls": "array[''https://cdn.example.com/a.jpg'', ''http://cdn.example.com/b.jpg'']"}')),
  '23514: social_posts[1].media_urls[2]: http://cdn.example.com/b.jpg is not an https:// URL',
  'media URLs are https://, by path'
);
select is(
  tests.try(tests.target_sql('x', '{"media_urls": "array_fill(''https://cdn.example.com/a.jpg''::text, array[5])"}')),
  '23514: social_posts[1].media_urls: 5 media; a post on X takes at most 4',
  'X takes at most 4 media'
);
select is(
  tests.try(tests.target_sql('x', '{}', 'blog')),
  format('23514: social_posts[1].content_id: content %s is a blog_post; only social_post content is published to social accounts',
    (select blog from tests.ids)),
  'only social posts have targets'
);
select is(
  tests.try(format($$insert into public.social_posts (content_id, social_connection_id) select %L, x from tests.ids$$,
    (select mallory_post from tests.ids))),
  format('23514: social_posts[1].content_id: %s is not one of your content items', (select mallory_post from tests.ids)),
  'alice cannot target mallory''s content'
);
select is(
  tests.try(tests.target_sql('mallory_x')),
  format('23514: social_posts[1].social_connection_id: %s is not one of your social connections', (select mallory_x from tests.ids)),
  '... nor post through mallory''s connection'
);
select is(
  tests.try(format($$insert into public.social_posts (user_id, content_id, social_connection_id) select %L, mallory_post, mallory_x from tests.ids$$,
    tests.get_user_id('mallory'))),
  '42501: new row violates row-level security policy for table "social_posts"',
  '... nor write a target for mallory'
);

select is(
  tests.try(format($$insert into public.social_posts (user_id, content_id, social_connection_id) select %L, blog, x from tests.ids$$,
    tests.get_user_id('alice')), 'mallory'),
  '42501: new row violates row-level security policy for table "social_posts"',
  'mallory writing a target in alice''s name learns nothing of alice''s content: RLS refuses before any check speaks'
);

-- Targets that stay, for what follows: X (1), LinkedIn (2), Facebook's page (3).
insert into public.social_posts (user_id, content_id, social_connection_id, account_id, text)
select tests.get_user_id('alice'), post, x, null, null from tests.ids
union all select tests.get_user_id('alice'), post, linkedin, 'urn:li:organization:7', 'On LinkedIn' from tests.ids
union all select tests.get_user_id('alice'), post, facebook, 'page-1', null from tests.ids;

select is(
  tests.try(format($$insert into public.social_posts (content_id, social_connection_id) select post, x from tests.ids$$)),
  '23505: duplicate key value violates unique constraint "social_posts_target_key"',
  'one target per content, connection and account'
);

-- Beacon's columns --------------------------------------------------------------------------
select is(tests.try($$update public.social_posts set status = 'published'$$),
  '42501: permission denied for table social_posts', 'alice cannot write status');
select is(tests.try($$update public.social_posts set platform_post_id = '1'$$),
  '42501: permission denied for table social_posts', '... nor platform_post_id');
select is(tests.try($$update public.social_posts set metrics = '{"likes": 1000}'$$),
  '42501: permission denied for table social_posts', '... nor metrics');
select is(tests.try($$update public.social_posts set attempts = 0, error = null, url = null, published_at = now(), first_attempt_at = now()$$),
  '42501: permission denied for table social_posts', '... nor attempts, error, url, published_at or first_attempt_at');
select is(tests.try($$insert into public.social_posts (content_id, social_connection_id, status) select post, instagram, 'published' from tests.ids$$),
  '42501: permission denied for table social_posts', '... not even on insert');
select is(tests.try($$update public.social_posts set text = 'Edited' where account_id = 'urn:li:organization:7'$$),
  'ok', 'alice edits her target''s text');
select is(tests.try($$select * from public.social_posts$$), '3 rows', 'alice reads her three targets');
select is(tests.try($$select * from public.social_posts$$, 'mallory'), '0 rows', 'mallory reads none of them');
select is(tests.try($$update public.social_posts set text = 'Mine now'$$, 'mallory'), '0 rows', '... and changes none');
select is(tests.try($$delete from public.social_posts$$, 'mallory'), '0 rows', '... and deletes none');
select is(tests.try($$select access_token from public.social_connections$$), '42501: permission denied for table social_connections',
  'tokens stay unreadable');
select is(
  (select string_agg(privilege_type, ',' order by privilege_type) from information_schema.role_table_grants
   where table_schema = 'public' and table_name = 'social_posts' and grantee = 'anon'),
  null,
  'anon holds nothing on social_posts'
);

-- Scheduling ---------------------------------------------------------------------------------
select is(
  tests.try($$update public.content set status = 'scheduled' where id = (select post from tests.ids)$$),
  '23514: social_posts[3].social_connection_id: the facebook connection was not granted pages_manage_posts; connect it again and allow posting',
  'scheduling checks every target''s connection for its posting scope, by path'
);
update public.social_connections set scopes = '{pages_show_list,pages_manage_posts}' where platform = 'facebook';
update public.social_connections set status = 'needs_reauth' where platform = 'linkedin';
select is(
  tests.try($$update public.content set status = 'scheduled' where id = (select post from tests.ids)$$),
  '23514: social_posts[2].social_connection_id: the linkedin connection is needs_reauth; connect it again before scheduling',
  '... and that it is active'
);
update public.social_connections set status = 'active' where platform = 'linkedin';
select is(
  tests.try($$update public.content set status = 'scheduled', content = repeat('日', 141) where id = (select post from tests.ids)$$),
  '23514: social_posts[1].text (the content''s text): X counts 282 characters (URLs 23, emoji and CJK 2); at most 280',
  '... and the content''s text for the targets without their own'
);
select is(
  tests.try($$update public.content set status = 'scheduled' where id = (select post from tests.ids)$$),
  'ok',
  'alice schedules her post to three accounts'
);
update public.content set status = 'scheduled' where id = (select post from tests.ids);
select is(
  tests.try($$update public.content set content = repeat('日', 141) where id = (select post from tests.ids)$$),
  '23514: social_posts[1].text (the content''s text): X counts 282 characters (URLs 23, emoji and CJK 2); at most 280',
  'a scheduled post''s text is checked again when it changes'
);
select is(
  tests.try(tests.target_sql('instagram', '{"media_urls": "array[''https://cdn.example.com/a.jpg'']"}')),
  'ok',
  'a target added to a scheduled post is checked whole, connection included (instagram has its scope)'
);
update public.social_connections set scopes = '{}' where platform = 'instagram';
select is(
  tests.try(tests.target_sql('instagram', '{"media_urls": "array[''https://cdn.example.com/a.jpg'']"}')),
  '23514: social_posts[4].social_connection_id: the instagram connection was not granted instagram_business_content_publish; connect it again and allow posting',
  '... so one without its scope is refused'
);
select is(
  tests.try($$delete from public.social_posts where account_id is null$$), 'ok',
  'alice removes a target of her scheduled post'
);
select is(
  tests.try($$delete from public.social_posts$$),
  '23514: social_posts[1]: the last target of scheduled content cannot be removed; take the content back to draft first',
  '... but not the last one'
);
select is(
  tests.try($$insert into public.content (title, content_type, content, status, scheduled_at) values ('Now', 'social_post', 'Hi', 'scheduled', now())$$),
  '23514: social_posts: a social post needs at least one target before it is scheduled',
  'a social post cannot be created scheduled: it has no target yet'
);
select is(
  tests.try(format($$update public.content set status = 'scheduled' where id = %L$$,
    tests.insert_row('content', 'alice', '{"content_type": "social_post", "scheduled_at": "2030-01-01T09:00:00Z"}'))),
  '23514: social_posts: a social post needs at least one target; add a social_posts row for each account to publish to',
  'nor scheduled without one'
);

-- Publishing freezes the targets -------------------------------------------------------------
update public.content set status = 'publishing' where id = (select post from tests.ids);
select is(
  tests.try($$update public.social_posts set text = 'Too late' where account_id = 'page-1'$$),
  '23514: social_posts[3]: targets change only while their content is draft or scheduled (it is publishing)',
  'targets of publishing content cannot change'
);
select is(
  tests.try($$delete from public.social_posts where account_id = 'page-1'$$),
  '23514: social_posts[3]: a target of publishing content cannot be removed',
  '... nor be removed'
);

select * from finish();
rollback;
