-- Row level security: enabled on every table in public (from the catalog); on the first nine
-- tables, the four owner policies as written, then every table x command x actor (the
-- audience tables: 78_audience_rls): the owner (alice) can; another tenant (mallory) sees, changes
-- and deletes nothing of hers; alice cannot insert a row under mallory's user_id (42501);
-- anon is refused outright (42501). Commands a signed-in client has no privilege for
-- (see 04_column_privileges) are refused to the owner too; the last section widens those
-- grants for a moment to show that the policies alone would still keep tenants apart.
begin;
\ir _helpers.psql

select plan(152);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

-- Policies as written ------------------------------------------------------------------

-- From the catalog, so a table added later without row level security fails here. No table
-- forces it: the owner, postgres, is the system (cron jobs, security definer functions).
select is(
  (select coalesce(array_agg(c.relname::text order by c.relname), '{}')
   from pg_class as c
   where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') and not c.relrowsecurity),
  '{}'::text[],
  'every table in public has row level security enabled'
);
-- A view runs as its owner unless it is security_invoker, reading around every policy; a
-- materialized view has no policies at all.
select is(
  (select coalesce(array_agg(c.relname::text order by c.relname), '{}')
   from pg_class as c
   where c.relnamespace = 'public'::regnamespace and c.relkind in ('v', 'm')
     and not exists (select from unnest(c.reloptions) as o where o ~* '^security_invoker=(true|on|yes|1)$')),
  '{}'::text[],
  'no view in public reads around row level security (views are security_invoker, none is materialized)'
);

-- One line per policy: name | permissive | roles | command | using | with check.
select is(
  (select string_agg(
      concat_ws(' | ', policyname, permissive, roles::text, cmd, coalesce(qual, '-'), coalesce(with_check, '-')),
      E'\n' order by policyname)
   from pg_policies
   where schemaname = 'public' and tablename = tbl),
  concat_ws(E'\n',
    'owner can delete | PERMISSIVE | {authenticated} | DELETE | (user_id = ( SELECT auth.uid() AS uid)) | -',
    'owner can insert | PERMISSIVE | {authenticated} | INSERT | - | (user_id = ( SELECT auth.uid() AS uid))',
    'owner can select | PERMISSIVE | {authenticated} | SELECT | (user_id = ( SELECT auth.uid() AS uid)) | -',
    'owner can update | PERMISSIVE | {authenticated} | UPDATE | (user_id = ( SELECT auth.uid() AS uid)) | '
      || '(user_id = ( SELECT auth.uid() AS uid))'
  ),
  format('%s has exactly the four owner policies, to authenticated, on (select auth.uid())', tbl)
)
from unnest(array[
  'campaigns', 'leads', 'content', 'social_connections', 'email_campaigns',
  'analytics_events', 'user_secrets', 'workflows', 'workflow_executions'
]) with ordinality as t (tbl, n)
order by n;

-- The matrix ---------------------------------------------------------------------------

select * from tests.rls_matrix('campaigns', '{select,insert,update,delete}', 'name = ''Renamed''');
select * from tests.rls_matrix('leads', '{select,insert,update,delete}', 'first_name = ''Ann''');
select * from tests.rls_matrix('content', '{select,insert,update,delete}', 'title = ''Renamed''');
select * from tests.rls_matrix('social_connections', '{select,update,delete}', 'username = ''renamed''');
select * from tests.rls_matrix('email_campaigns', '{select,insert,update,delete}', 'subject = ''Renamed''');
select * from tests.rls_matrix('analytics_events', '{select,insert,delete}', 'event_name = ''renamed''');
select * from tests.rls_matrix('user_secrets', '{select,delete}', 'secret_name = ''RENAMED''');
select * from tests.rls_matrix('workflows', '{select,insert,update,delete}', 'name = ''Renamed''');
select * from tests.rls_matrix(
  'workflow_executions', '{select}', 'status = ''completed''',
  jsonb_build_object('workflow_id', tests.insert_row('workflows', 'alice')),
  jsonb_build_object('workflow_id', tests.insert_row('workflows', 'mallory'))
);

-- Defence in depth: the withheld privileges granted (inside this transaction only) ---

grant insert on public.social_connections to authenticated;
grant insert, update on public.user_secrets to authenticated;
grant update on public.analytics_events to authenticated;
grant insert, update, delete on public.workflow_executions to authenticated;

select * from tests.rls_insert('social_connections', true, '{"platform": "linkedin"}',
  label => '(grant widened) ');
select * from tests.rls_insert('user_secrets', true, label => '(grant widened) ');
select * from tests.rls_update('user_secrets', tests.insert_row('user_secrets', 'alice'), 'secret_name = ''RENAMED''',
  true, label => '(grant widened) ');
select * from tests.rls_update('analytics_events', tests.insert_row('analytics_events', 'alice'),
  'event_name = ''renamed''', true, label => '(grant widened) ');
-- An execution takes its owner from its workflow, and alice cannot see mallory's workflow:
-- filing a run under it fails as a missing workflow (23503); a new user_id is overwritten.
select * from tests.rls_insert('workflow_executions', true,
  jsonb_build_object('workflow_id', tests.insert_row('workflows', 'alice')),
  jsonb_build_object('workflow_id', tests.insert_row('workflows', 'mallory')),
  '23503', '(grant widened) ');
select * from tests.rls_update('workflow_executions', tests.insert_row('workflow_executions', 'alice'),
  'status = ''completed''', true, null, '(grant widened) ');
select * from tests.rls_delete('workflow_executions', tests.insert_row('workflow_executions', 'alice'), true,
  '(grant widened) ');

select * from finish();
rollback;
