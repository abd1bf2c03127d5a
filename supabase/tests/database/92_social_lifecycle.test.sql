-- The content lifecycle (migration content_lifecycle): every move between the six statuses of
-- a social post and of a blog post, tried by the owner (role authenticated) and by the system
-- (postgres: pg_cron's publishing job, the dispatcher's settlement); published_at is the
-- database's; a publishing post's text is frozen; campaign_id points only at the owner's
-- campaigns; the errors say what went wrong.
begin;
\ir _helpers.psql

select plan(117);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

-- Alice's X connection, granted posting: every social post of hers targets it.
insert into public.social_connections (user_id, platform, platform_user_id, access_token, scopes)
values (tests.get_user_id('alice'), 'twitter', 'x-alice', 'v1:ciphertext', '{tweet.read,tweet.write}');

-- A content item of `owner` of `kind` in status `wanted`, reached through legal moves as the
-- system.
create function tests.content_in(owner text, kind text, wanted text)
returns uuid
language plpgsql
as $$
declare
  made uuid;
begin
  made := tests.insert_row('content', owner, jsonb_build_object(
    'content_type', kind, 'scheduled_at', '2030-01-01T09:00:00Z'));
  if kind = 'social_post' then
    insert into public.social_posts (user_id, content_id, social_connection_id)
    select c.user_id, c.id, sc.id
    from public.content as c
    join public.social_connections as sc on sc.user_id = c.user_id and sc.platform = 'twitter'
    where c.id = made;
  end if;
  if wanted in ('scheduled', 'publishing', 'published', 'failed') then
    update public.content set status = 'scheduled' where id = made;
  end if;
  if wanted in ('publishing', 'published', 'failed') and kind = 'social_post' then
    update public.content set status = 'publishing' where id = made;
  end if;
  if wanted in ('published', 'failed', 'archived') then
    update public.content set status = wanted where id = made;
  end if;
  return made;
end;
$$;

-- `update public.content set <set_clause> where id = <item>` as `actor`, undone (tests.attempt).
create function tests.try_update(item uuid, set_clause text, actor text)
returns text
language sql
as $$
  select tests.attempt(format('update public.content set %s where id = %L', set_clause, item), actor)
$$;

create table tests.statuses (ord integer, status text);
insert into tests.statuses values
  (1, 'draft'), (2, 'scheduled'), (3, 'publishing'), (4, 'published'), (5, 'failed'), (6, 'archived');

-- A blog post never publishes through Beacon, so it has no publishing or failed item.
create table tests.fixture as
select k.kind, s.status, tests.content_in('alice', k.kind, s.status) as id
from (values ('social_post'), ('blog_post')) as k (kind)
cross join tests.statuses as s
where k.kind = 'social_post' or s.status not in ('publishing', 'failed');

select is(
  (select array_agg(c.status order by f.kind desc, s.ord) from tests.fixture as f
   join public.content as c on c.id = f.id join tests.statuses as s on s.status = f.status),
  array['draft', 'scheduled', 'publishing', 'published', 'failed', 'archived',
        'draft', 'scheduled', 'published', 'archived'],
  'fixture: one social post of alice''s in each status, one blog post in each of its four'
);

-- Every move -----------------------------------------------------------------------------
create table tests.legal_moves (kind text, actor text, from_status text, to_status text);
insert into tests.legal_moves values
  ('social_post', 'alice', 'draft', 'scheduled'),
  ('social_post', 'alice', 'draft', 'archived'),
  ('social_post', 'alice', 'scheduled', 'draft'),
  ('social_post', 'alice', 'scheduled', 'archived'),
  ('social_post', 'alice', 'publishing', 'archived'),
  ('social_post', 'alice', 'published', 'archived'),
  ('social_post', 'alice', 'failed', 'draft'),
  ('social_post', 'alice', 'failed', 'archived'),
  ('blog_post', 'alice', 'draft', 'scheduled'),
  ('blog_post', 'alice', 'draft', 'published'),
  ('blog_post', 'alice', 'draft', 'archived'),
  ('blog_post', 'alice', 'scheduled', 'draft'),
  ('blog_post', 'alice', 'scheduled', 'published'),
  ('blog_post', 'alice', 'scheduled', 'archived'),
  ('blog_post', 'alice', 'published', 'archived');
insert into tests.legal_moves
select kind, 'system', from_status, to_status from tests.legal_moves
union all
values ('social_post', 'system', 'scheduled', 'publishing'), ('social_post', 'system', 'publishing', 'published'),
  ('social_post', 'system', 'publishing', 'failed');

select case
  when m.actor is not null then
    is(tests.try_update(f.id, format('status = %L', t.status), a.actor), 'ok',
       format('%s may move a %s from %s to %s', a.label, f.kind, f.status, t.status))
  else
    alike(tests.try_update(f.id, format('status = %L', t.status), a.actor),
          format('23514: content cannot move from %s to %s: %%', f.status, t.status),
          format('%s may not move a %s from %s to %s', a.label, f.kind, f.status, t.status))
end
from (values (1, 'alice', 'the owner (a client)'), (2, 'system', 'the system')) as a (n, actor, label)
cross join tests.fixture as f
join tests.statuses as fs on fs.status = f.status
cross join tests.statuses as t
left join tests.legal_moves as m
  on m.kind = f.kind and m.actor = a.actor and m.from_status = f.status and m.to_status = t.status
where t.status <> f.status
order by a.n, f.kind desc, fs.ord, t.ord;

-- The errors say where the item may go, and what to do ------------------------------------
select is(
  tests.try_update((select id from tests.fixture where kind = 'social_post' and status = 'published'),
    'status = ''draft''', 'alice'),
  '23514: content cannot move from published to draft: from published it may move to archived',
  'published content cannot go back to draft'
);
select is(
  tests.try_update((select id from tests.fixture where kind = 'social_post' and status = 'scheduled'),
    'status = ''publishing''', 'alice'),
  '23514: content cannot move from scheduled to publishing: from scheduled it may move to draft or archived',
  'a client cannot start publishing: the system does at scheduled_at'
);
select is(
  tests.try_update((select id from tests.fixture where kind = 'social_post' and status = 'archived'),
    'status = ''draft''', 'alice'),
  '23514: content cannot move from archived to draft: archived is final',
  'archived is final'
);

-- New items -------------------------------------------------------------------------------
select tests.authenticate_as('alice');
select throws_ok(
  $$insert into public.content (title, content_type, content, status) values ('P', 'social_post', 'Hi', 'published')$$,
  '23514', 'new social_post content cannot start as published',
  'a new social post cannot start as published: Beacon publishes it'
);
select throws_ok(
  $$insert into public.content (title, content_type, content, status) values ('P', 'blog_post', 'Hi', 'failed')$$,
  '23514', 'new blog_post content cannot start as failed',
  'nothing starts as failed'
);
with made as (
  insert into public.content (title, content_type, content, status) values ('P', 'blog_post', 'Hi', 'published')
  returning published_at
)
select isnt(published_at, null, 'a blog post created as published gets published_at from the database')
from made;
select throws_ok(
  $$insert into public.content (title, content_type, content, published_at) values ('P', 'blog_post', 'Hi', now())$$,
  '42501', null,
  'a client cannot insert published_at'
);
select tests.clear_authentication();

select alike(
  tests.try_update((select id from tests.fixture where kind = 'blog_post' and status = 'draft'),
    'published_at = now()', 'alice'),
  '42501: %',
  'a client cannot write published_at'
);
select is(
  (select count(*)::int from public.content as c join tests.fixture as f on f.id = c.id
   where (c.published_at is not null) <> (f.status = 'published')),
  0,
  'published_at is set when an item becomes published, and only then'
);

-- A publishing social post's text is frozen, for everyone ---------------------------------
select is(
  tests.try_update((select id from tests.fixture where kind = 'social_post' and status = 'publishing'),
    'content = ''Changed''', 'system'),
  '23514: content of a social post cannot change once it is publishing',
  'the text of a publishing social post cannot change: the dispatcher reads it per target'
);
select is(
  tests.try_update((select id from tests.fixture where kind = 'social_post' and status = 'published'),
    'title = ''Renamed''', 'alice'),
  'ok',
  'its title still can'
);

-- campaign_id: only the owner's campaigns ------------------------------------------------
select is(
  tests.try_update((select id from tests.fixture where kind = 'blog_post' and status = 'draft'),
    format('campaign_id = %L', tests.insert_row('campaigns', 'alice', '{}')), 'alice'),
  'ok',
  'alice files her content under her campaign'
);
select alike(
  tests.try_update((select id from tests.fixture where kind = 'blog_post' and status = 'draft'),
    format('campaign_id = %L', tests.insert_row('campaigns', 'mallory', '{}')), 'alice'),
  '23503: %content_campaign_fkey%',
  '... but not under mallory''s'
);

-- The targets follow their content ---------------------------------------------------------
select is(
  tests.try_update((select id from tests.fixture where kind = 'social_post' and status = 'scheduled'),
    'status = ''archived''', 'alice'),
  'ok',
  'alice archives a scheduled post'
);
update public.content set status = 'archived'
where id = (select id from tests.fixture where kind = 'social_post' and status = 'scheduled');
select is(
  (select status from public.social_posts
   where content_id = (select id from tests.fixture where kind = 'social_post' and status = 'scheduled')),
  'cancelled',
  '... and its pending target is cancelled: nothing of it will be published'
);
update public.social_posts set status = 'failed', error = 'X said no'
where content_id = (select id from tests.fixture where kind = 'social_post' and status = 'failed');
update public.content set status = 'draft'
where id = (select id from tests.fixture where kind = 'social_post' and status = 'failed');
select is(
  (select status || coalesce(error, '') from public.social_posts
   where content_id = (select id from tests.fixture where kind = 'social_post' and status = 'failed')),
  'pending',
  'a failed post taken back to draft has its failed targets pending again, their errors cleared'
);

select * from finish();
rollback;
