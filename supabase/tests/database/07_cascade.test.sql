-- What a delete takes with it: deleting an auth user removes all their rows in all nine
-- tables (and nobody else's); deleting a campaign or a template keeps the email campaigns
-- that used them and forgets the link; deleting a workflow deletes its executions.
begin;
\ir _helpers.psql

select plan(25);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

-- One row per table for each of them; email campaigns linked to a campaign and a template.
create table tests.rows (owner text, tbl text, id uuid);
insert into tests.rows
select owner, tbl, tests.insert_row(tbl, owner)
from unnest(array['alice', 'mallory']) as o (owner)
cross join unnest(array[
  'campaigns', 'leads', 'content', 'social_connections', 'analytics_events',
  'user_secrets', 'workflows', 'workflow_executions'
]) as t (tbl);
insert into tests.rows
select owner, 'email_campaigns', tests.insert_row('email_campaigns', owner, jsonb_build_object(
  'campaign_id', (select id from tests.rows as r where r.owner = o.owner and r.tbl = 'campaigns'),
  'template_id', (select id from tests.rows as r where r.owner = o.owner and r.tbl = 'content')
))
from unnest(array['alice', 'mallory']) as o (owner);

create table tests.users as
select tests.get_user_id('alice') as alice, tests.get_user_id('mallory') as mallory;
grant select on tests.rows, tests.users to authenticated;

create function tests.rows_left(tbl text, owner uuid)
returns integer
language plpgsql
as $$
declare
  n integer;
begin
  execute format('select count(*) from public.%I where user_id = %L', tbl, owner) into n;
  return n;
end;
$$;

select is(
  (select array_agg(tests.rows_left(tbl, (select alice from tests.users)) order by tbl)
   from (select distinct tbl from tests.rows) as t),
  array_fill(1, array[9]),
  'before: alice has a row in each of the nine tables'
);

-- Alice closes her account --------------------------------------------------------------
select lives_ok($$delete from auth.users where id = (select alice from tests.users)$$,
  'an auth user can be deleted while they still own rows');

select is(tests.rows_left(tbl, (select alice from tests.users)), 0,
  format('deleting alice deleted her rows in %s', tbl))
from unnest(array[
  'campaigns', 'leads', 'content', 'social_connections', 'email_campaigns',
  'analytics_events', 'user_secrets', 'workflows', 'workflow_executions'
]) with ordinality as t (tbl, n)
order by n;

select is(tests.rows_left(tbl, (select mallory from tests.users)), 1,
  format('mallory''s rows in %s are untouched', tbl))
from unnest(array[
  'campaigns', 'leads', 'content', 'social_connections', 'email_campaigns',
  'analytics_events', 'user_secrets', 'workflows', 'workflow_executions'
]) with ordinality as t (tbl, n)
order by n;

-- Mallory tidies up through the API ------------------------------------------------------
select tests.authenticate_as('mallory');

delete from public.campaigns where id = (select id from tests.rows where owner = 'mallory' and tbl = 'campaigns');
select is(
  (select (campaign_id is null) from public.email_campaigns
   where id = (select id from tests.rows where owner = 'mallory' and tbl = 'email_campaigns')),
  true,
  'deleting a campaign keeps its email campaigns and sets their campaign_id to null'
);
select is(
  (select user_id from public.email_campaigns
   where id = (select id from tests.rows where owner = 'mallory' and tbl = 'email_campaigns')),
  (select mallory from tests.users),
  'the email campaign still belongs to mallory'
);

delete from public.content where id = (select id from tests.rows where owner = 'mallory' and tbl = 'content');
select is(
  (select (template_id is null) from public.email_campaigns
   where id = (select id from tests.rows where owner = 'mallory' and tbl = 'email_campaigns')),
  true,
  'deleting a template keeps the email campaign and sets its template_id to null'
);

-- Her workflow's execution was made with it by tests.insert_row; add a second workflow
-- with its own execution, which must survive.
select tests.clear_authentication();
insert into tests.rows
select 'mallory', 'other execution', tests.insert_row('workflow_executions', 'mallory',
  jsonb_build_object('workflow_id', tests.insert_row('workflows', 'mallory')));
select tests.authenticate_as('mallory');

delete from public.workflows
where id = (select workflow_id from public.workflow_executions
            where id = (select id from tests.rows where owner = 'mallory' and tbl = 'workflow_executions'));
select is(
  (select count(*)::int from public.workflow_executions
   where id = (select id from tests.rows where owner = 'mallory' and tbl = 'workflow_executions')),
  0,
  'deleting a workflow deletes its executions'
);
select is(
  (select count(*)::int from public.workflow_executions
   where id = (select id from tests.rows where owner = 'mallory' and tbl = 'other execution')),
  1,
  'the executions of her other workflow are kept'
);

select * from finish();
rollback;
