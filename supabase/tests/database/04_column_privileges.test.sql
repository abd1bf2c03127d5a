-- Privileges, in both directions: what each API role may read and write, column by column
-- (from the catalog, so nothing is granted that the spec does not list), then the same
-- facts exercised: a signed-in client reading ciphertexts or writing system-owned columns
-- gets 42501, the columns it may use work, and the service can do all of it.
begin;
\ir _helpers.psql

select plan(114);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

-- The grants, column by column ---------------------------------------------------------
-- Columns a signed-in client may select, insert and update ('{*}': every column).
create table tests.expected_grants (ord serial, tbl text, can_select text[], can_insert text[], can_update text[]);
insert into tests.expected_grants (tbl, can_select, can_insert, can_update) values
  ('campaigns', '{*}', '{*}', '{*}'),
  ('leads', '{*}',
    '{id,user_id,email,first_name,last_name,company,phone,status,source,tags,custom_fields,subscription_status}',
    '{email,first_name,last_name,company,phone,status,source,tags,custom_fields,subscription_status}'),
  ('content', '{*}',
    '{id,user_id,title,content_type,content,metadata,status,scheduled_at,created_at,updated_at,campaign_id}',
    '{id,user_id,title,content_type,content,metadata,status,scheduled_at,created_at,updated_at,campaign_id}'),
  ('social_connections',
    '{id,user_id,platform,platform_user_id,username,expires_at,is_active,created_at,updated_at,scopes,status,last_error,last_refreshed_at,refresh_failures,next_refresh_at,accounts}',
    '{}',
    '{username,is_active}'),
  ('email_campaigns', '{*}',
    '{id,user_id,campaign_id,subject,content,template_id,recipient_list,send_at,status,from_email,from_name,reply_to}',
    '{campaign_id,subject,content,template_id,recipient_list,send_at,status,from_email,from_name,reply_to}'),
  ('analytics_events', '{*}', '{*}', '{}'),
  ('user_secrets', '{id,user_id,secret_name,created_at,updated_at}', '{}', '{}'),
  ('workflows', '{*}', '{*}', '{*}'),
  ('workflow_executions', '{*}', '{}', '{}'),
  ('social_posts', '{*}',
    '{id,user_id,content_id,social_connection_id,account_id,text,media_urls}',
    '{social_connection_id,account_id,text,media_urls}');

-- One assertion per table; its text has a line per column, `column: privileges`.
select is(
  (select string_agg(
      c.attname || ': ' || coalesce(nullif(concat_ws(' ',
        case when has_column_privilege('authenticated', c.attrelid, c.attname, 'SELECT') then 'select' end,
        case when has_column_privilege('authenticated', c.attrelid, c.attname, 'INSERT') then 'insert' end,
        case when has_column_privilege('authenticated', c.attrelid, c.attname, 'UPDATE') then 'update' end,
        case when has_column_privilege('authenticated', c.attrelid, c.attname, 'REFERENCES') then 'references' end
      ), ''), 'nothing'), E'\n' order by c.attnum)
   from pg_attribute as c
   where c.attrelid = to_regclass('public.' || e.tbl) and c.attnum > 0 and not c.attisdropped),
  (select string_agg(
      c.attname || ': ' || coalesce(nullif(concat_ws(' ',
        case when e.can_select @> '{*}' or c.attname = any(e.can_select) then 'select' end,
        case when e.can_insert @> '{*}' or c.attname = any(e.can_insert) then 'insert' end,
        case when e.can_update @> '{*}' or c.attname = any(e.can_update) then 'update' end
      ), ''), 'nothing'), E'\n' order by c.attnum)
   from pg_attribute as c
   where c.attrelid = to_regclass('public.' || e.tbl) and c.attnum > 0 and not c.attisdropped),
  format('authenticated holds exactly the spec''s column privileges on %s', e.tbl)
)
from tests.expected_grants as e
order by e.ord;

-- Table-level: delete where the spec grants it; never truncate, references or trigger.
select is(
  array(
    select p from unnest(array['DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) as p
    where has_table_privilege('authenticated', to_regclass('public.' || tbl), p)
  ),
  case when tbl = 'workflow_executions' then '{}'::text[] else '{DELETE}' end,
  format('authenticated %s rows of %s, and may not truncate, reference or trigger it',
    case when tbl = 'workflow_executions' then 'may not delete' else 'may delete' end, tbl)
)
from unnest(array[
  'campaigns', 'leads', 'content', 'social_connections', 'email_campaigns',
  'analytics_events', 'user_secrets', 'workflows', 'workflow_executions'
]) with ordinality as t (tbl, n)
order by n;

select ok(
  not has_any_column_privilege('anon', to_regclass('public.' || tbl), 'SELECT, INSERT, UPDATE, REFERENCES')
    and not has_table_privilege('anon', to_regclass('public.' || tbl), 'DELETE, TRUNCATE, TRIGGER'),
  format('anon has no privilege at all on %s', tbl)
)
from unnest(array[
  'campaigns', 'leads', 'content', 'social_connections', 'email_campaigns',
  'analytics_events', 'user_secrets', 'workflows', 'workflow_executions'
]) with ordinality as t (tbl, n)
order by n;

select table_privs_are('public', tbl, 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
  format('service_role may select, insert, update and delete %s', tbl))
from unnest(array[
  'campaigns', 'leads', 'content', 'social_connections', 'email_campaigns',
  'analytics_events', 'user_secrets', 'workflows', 'workflow_executions'
]) with ordinality as t (tbl, n)
order by n;

-- The same, exercised: alice's own rows, as alice --------------------------------------
create table tests.fixture as
select
  tests.insert_row('user_secrets', 'alice', '{"secret_name": "RESEND_API_KEY"}') as secret_id,
  tests.insert_row('social_connections', 'alice', '{"refresh_token": "refresh-ciphertext"}') as connection_id,
  tests.insert_row('leads', 'alice', '{"company": "Acme"}') as lead_id,
  tests.insert_row('email_campaigns', 'alice', '{"metrics": {"sent": 3}}') as email_id,
  tests.insert_row('workflow_executions', 'alice') as execution_id,
  tests.insert_row('campaigns', 'alice') as campaign_id,
  tests.insert_row('content', 'alice') as content_id;
grant select on tests.fixture to authenticated, service_role;

select tests.authenticate_as('alice');

-- user_secrets: names and dates, never the ciphertext.
select * from tests.affects(
  $$select id, user_id, secret_name, created_at, updated_at from public.user_secrets$$, 1,
  'user_secrets: alice lists her secrets by name and date');
select throws_ok($$select encrypted_value from public.user_secrets$$, '42501', null,
  'user_secrets: alice cannot read encrypted_value');
select throws_ok($$select * from public.user_secrets$$, '42501', null,
  'user_secrets: select * is refused, since it includes encrypted_value');
select throws_ok($$insert into public.user_secrets (secret_name, encrypted_value) values ('X_KEY', 'x')$$, '42501',
  null, 'user_secrets: alice cannot write a secret herself (the secrets function does)');
select throws_ok($$update public.user_secrets set encrypted_value = 'x'$$, '42501', null,
  'user_secrets: alice cannot overwrite encrypted_value');

-- social_connections: everything but the tokens.
select * from tests.affects(
  $$select id, user_id, platform, platform_user_id, username, expires_at, is_active, created_at, updated_at
    from public.social_connections$$, 1,
  'social_connections: alice reads every column but the tokens');
select throws_ok($$select access_token from public.social_connections$$, '42501', null,
  'social_connections: alice cannot read access_token');
select throws_ok($$select refresh_token from public.social_connections$$, '42501', null,
  'social_connections: alice cannot read refresh_token');
select throws_ok($$select * from public.social_connections$$, '42501', null,
  'social_connections: select * is refused, since it includes the tokens');
select * from tests.affects(
  $$update public.social_connections set username = 'alice_new', is_active = false returning id$$, 1,
  'social_connections: alice can rename and deactivate her connection');
select throws_ok($$update public.social_connections set access_token = 'forged'$$, '42501', null,
  'social_connections: alice cannot write access_token');
select throws_ok($$update public.social_connections set refresh_token = 'forged'$$, '42501', null,
  'social_connections: alice cannot write refresh_token');
select throws_ok($$update public.social_connections set platform = 'facebook'$$, '42501', null,
  'social_connections: alice cannot change the platform');
select throws_ok($$update public.social_connections set platform_user_id = 'other'$$, '42501', null,
  'social_connections: alice cannot change the platform user');

-- leads: everything but score and the bookkeeping columns.
select throws_ok($$insert into public.leads (email, score) values ('boost@example.test', 1000)$$, '42501', null,
  'leads: alice cannot insert a score');
select throws_ok($$insert into public.leads (email, created_at) values ('old@example.test', '2000-01-01')$$, '42501',
  null, 'leads: alice cannot backdate created_at');
select throws_ok($$update public.leads set score = 99$$, '42501', null, 'leads: alice cannot update score');
select throws_ok($$update public.leads set created_at = '2000-01-01'$$, '42501', null,
  'leads: alice cannot update created_at');
select throws_ok($$update public.leads set updated_at = '2000-01-01'$$, '42501', null,
  'leads: alice cannot update updated_at');
select throws_ok($$update public.leads set id = gen_random_uuid()$$, '42501', null, 'leads: alice cannot update id');
select lives_ok(
  $$insert into public.leads (id, user_id, email, first_name, last_name, company, phone, status, source, tags,
      custom_fields)
    values (gen_random_uuid(), auth.uid(), 'new@example.test', 'New', 'Lead', 'Acme', '+1 555 0100', 'new', 'form',
      '{web}', '{"a": 1}')$$,
  'leads: alice can insert every other column');
select * from tests.affects(
  $$update public.leads
    set email = 'ann@example.test', first_name = 'Ann', last_name = 'Lee', company = 'Acme Inc', phone = '555 0101',
        status = 'qualified', source = 'import', tags = '{vip}', custom_fields = '{"b": 2}'
    where id = (select lead_id from tests.fixture)
    returning id$$, 1,
  'leads: alice can update every other column');

-- email_campaigns: everything but metrics and the bookkeeping columns.
select * from tests.affects($$select metrics from public.email_campaigns where metrics = '{"sent": 3}'$$, 1,
  'email_campaigns: alice can read metrics');
select throws_ok(
  $$insert into public.email_campaigns (subject, content, recipient_list, metrics)
    values ('Hi', 'Body', '[]', '{"opens": 1000}')$$,
  '42501', null, 'email_campaigns: alice cannot insert metrics');
select throws_ok($$update public.email_campaigns set metrics = '{"opens": 1000}'$$, '42501', null,
  'email_campaigns: alice cannot update metrics');
select throws_ok($$update public.email_campaigns set created_at = '2000-01-01'$$, '42501', null,
  'email_campaigns: alice cannot update created_at');
select throws_ok($$update public.email_campaigns set id = gen_random_uuid()$$, '42501', null,
  'email_campaigns: alice cannot update id');
select lives_ok(
  $$insert into public.email_campaigns (id, user_id, campaign_id, subject, content, template_id, recipient_list,
      send_at, status)
    select gen_random_uuid(), auth.uid(), campaign_id, 'Hello', 'Body', content_id, '["a@example.test"]',
      '2030-01-01', 'scheduled'
    from tests.fixture$$,
  'email_campaigns: alice can insert every other column');
select * from tests.affects(
  $$update public.email_campaigns
    set campaign_id = f.campaign_id, subject = 'Hello again', content = 'New body', template_id = f.content_id,
        recipient_list = '["b@example.test"]', send_at = '2030-02-01', status = 'scheduled'
    from tests.fixture as f
    where email_campaigns.id = f.email_id
    returning email_campaigns.id$$, 1,
  'email_campaigns: alice can update every other column');

-- workflow_executions: read only.
select * from tests.affects($$select * from public.workflow_executions$$, 1,
  'workflow_executions: alice can read her executions');

-- The service can do all of it ----------------------------------------------------------
select tests.authenticate_as_service_role();

select is((select encrypted_value from public.user_secrets where id = (select secret_id from tests.fixture)),
  'ciphertext', 'service_role reads user_secrets.encrypted_value');
select lives_ok(
  $$insert into public.user_secrets (user_id, secret_name, encrypted_value)
    values (tests.get_user_id('alice'), 'X_API_KEY', 'ciphertext')$$,
  'service_role writes a secret for alice');
select * from tests.affects(
  $$update public.user_secrets set encrypted_value = 'rotated' where id = (select secret_id from tests.fixture)
    returning id$$, 1,
  'service_role rotates user_secrets.encrypted_value');
select is(
  (select (access_token, refresh_token)::text from public.social_connections
   where id = (select connection_id from tests.fixture)),
  '(ciphertext,refresh-ciphertext)',
  'service_role reads the social tokens');
select lives_ok(
  $$insert into public.social_connections (user_id, platform, platform_user_id, access_token)
    values (tests.get_user_id('alice'), 'linkedin', 'li-1', 'ciphertext')$$,
  'service_role stores a social connection for alice (the OAuth callback)');
select * from tests.affects(
  $$update public.social_connections set access_token = 'refreshed', refresh_token = 'refreshed'
    where id = (select connection_id from tests.fixture) returning id$$, 1,
  'service_role refreshes the social tokens');
select * from tests.affects(
  $$update public.email_campaigns set metrics = '{"sent": 4}' where id = (select email_id from tests.fixture)
    returning id$$, 1,
  'service_role updates email_campaigns.metrics');
select lives_ok(
  $$update public.leads set score = 99 where id = (select lead_id from tests.fixture)$$,
  'service_role may write leads.score (the scoring trigger still decides its value)');
select lives_ok(
  $$insert into public.workflow_executions (workflow_id, status)
    select workflow_id, 'completed' from public.workflow_executions where id = (select execution_id from tests.fixture)$$,
  'service_role records a workflow execution');
select * from tests.affects(
  $$update public.workflow_executions set status = 'failed', error_message = 'boom', completed_at = now()
    where id = (select execution_id from tests.fixture) returning id$$, 1,
  'service_role updates a workflow execution');
select * from tests.affects(
  $$delete from public.workflow_executions where id = (select execution_id from tests.fixture) returning id$$, 1,
  'service_role deletes a workflow execution');

-- ...on every table and for every tenant (it bypasses RLS).
select tests.clear_authentication();

create function tests.service_crud(tbl text, set_clause text, overrides jsonb default '{}',
  other_overrides jsonb default '{}')
returns setof text
language plpgsql
as $$
declare
  alice_row uuid;
  total integer;
begin
  perform tests.clear_authentication();
  alice_row := tests.insert_row(tbl, 'alice', overrides);
  perform tests.insert_row(tbl, 'mallory', overrides);
  execute format('select count(*) from public.%I', tbl) into total;
  perform tests.authenticate_as_service_role();
  return query select * from tests.affects(format('select id from public.%I', tbl), total,
    format('service_role: %s select sees every tenant''s rows', tbl));
  return query select * from tests.affects(tests.insert_sql(tbl, 'mallory', other_overrides) || ' returning id', 1,
    format('service_role: %s insert for any user', tbl));
  return query select * from tests.affects(
    format('update public.%I set %s where id = %L returning id', tbl, set_clause, alice_row), 1,
    format('service_role: %s update of any user''s row', tbl));
  return query select * from tests.affects(
    format('delete from public.%I where id = %L returning id', tbl, alice_row), 1,
    format('service_role: %s delete of any user''s row', tbl));
  perform tests.clear_authentication();
end;
$$;

select * from tests.service_crud('campaigns', 'name = ''Renamed''');
select * from tests.service_crud('leads', 'first_name = ''Ann''');
select * from tests.service_crud('content', 'title = ''Renamed''');
select * from tests.service_crud('social_connections', 'username = ''renamed''',
  '{"platform": "facebook"}', '{"platform": "instagram"}');
select * from tests.service_crud('email_campaigns', 'subject = ''Renamed''');
select * from tests.service_crud('analytics_events', 'event_name = ''renamed''');
select * from tests.service_crud('user_secrets', 'encrypted_value = ''rotated''');
select * from tests.service_crud('workflows', 'name = ''Renamed''');
select * from tests.service_crud('workflow_executions', 'status = ''completed''');

select * from finish();
rollback;
