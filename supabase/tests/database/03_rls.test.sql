-- Row level security on all nine tables: the four owner policies as written, then every
-- table x command x actor: the owner (alice) can; another tenant (mallory) sees, changes
-- and deletes nothing of hers; alice cannot insert a row under mallory's user_id (42501);
-- anon is refused outright (42501). Commands a signed-in client has no privilege for
-- (see 04_column_privileges) are refused to the owner too; the last section widens those
-- grants for a moment to show that the policies alone would still keep tenants apart.
begin;
\ir _helpers.psql

select plan(159);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

-- Policies as written ------------------------------------------------------------------

select ok(
  (select relrowsecurity from pg_class where oid = to_regclass('public.' || tbl)),
  format('%s has row level security enabled', tbl)
)
from unnest(array[
  'campaigns', 'leads', 'content', 'social_connections', 'email_campaigns',
  'analytics_events', 'user_secrets', 'workflows', 'workflow_executions'
]) with ordinality as t (tbl, n)
order by n;

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

-- The matrix, one helper per command ---------------------------------------------------
-- Each takes the table, alice's row to act on (made as postgres), whether signed-in clients
-- hold the privilege for that command, and a label prefix; and yields one named assertion
-- per actor. The statements that must be stopped by one policy alone carry no `where` and
-- no `returning`: either would make Postgres apply the select policy as well and hide a
-- broken update, delete or insert policy.

-- tests.attempt: runs `stmt` as whoever is acting (it must not fail), then counts, as
-- postgres, the rows `probe` finds; ends acting.
create function tests.attempt(stmt text, probe text, expected integer, description text)
returns setof text
language plpgsql
as $$
begin
  begin
    execute stmt;
  exception when others then
    perform tests.clear_authentication();
    return next fail(description);
    return next diag(format('    %s%s    raised %s: %s', stmt, E'\n', sqlstate, sqlerrm));
    return;
  end;
  perform tests.clear_authentication();
  return query select * from tests.affects(probe, expected, description);
end;
$$;

create function tests.rls_select(tbl text, row_id uuid, label text default '')
returns setof text
language plpgsql
as $$
declare
  stmt constant text := format('select id from public.%I where id = %L', tbl, row_id);
begin
  perform tests.authenticate_as('alice');
  return query select * from tests.affects(stmt, 1, format('%s%s select: the owner sees her row', label, tbl));
  perform tests.authenticate_as('mallory');
  return query select * from tests.affects(stmt, 0, format('%s%s select: another user does not see it', label, tbl));
  perform tests.authenticate_as_anon();
  return next throws_ok(stmt, '42501', null, format('%s%s select: anon is refused', label, tbl));
  perform tests.clear_authentication();
end;
$$;

-- Inserting another user's row: as alice, a row with mallory's user_id (or `foreign`
-- overrides), refused with `foreign_errcode`.
create function tests.rls_insert(
  tbl text,
  granted boolean,
  overrides jsonb default '{}',
  foreign_overrides jsonb default '{}',
  foreign_errcode text default '42501',
  label text default ''
)
returns setof text
language plpgsql
as $$
declare
  own_insert text;
  foreign_insert text;
begin
  perform tests.authenticate_as('alice');
  own_insert := tests.insert_sql(tbl, null, overrides);
  foreign_insert := tests.insert_sql(tbl, 'mallory', foreign_overrides);
  if granted then
    return query select * from tests.affects(own_insert || ' returning id, user_id', 1,
      format('%s%s insert: the owner can, and the new row is hers', label, tbl), 'user_id = auth.uid()');
  else
    return next throws_ok(own_insert, '42501', null,
      format('%s%s insert: refused to the owner (no privilege)', label, tbl));
  end if;
  return next throws_ok(foreign_insert, foreign_errcode, null,
    format('%s%s insert: the owner cannot insert a row for another user', label, tbl));
  perform tests.authenticate_as_anon();
  return next throws_ok(own_insert, '42501', null, format('%s%s insert: anon is refused', label, tbl));
  perform tests.clear_authentication();
end;
$$;

-- set_clause: one `column = value` assignment; it doubles as the probe that tells whether
-- the update reached alice's row. hand_over_errcode: how alice handing all her rows to
-- mallory fails; null when a trigger quietly keeps her as the owner instead.
create function tests.rls_update(
  tbl text,
  row_id uuid,
  set_clause text,
  granted boolean,
  hand_over_errcode text default '42501',
  label text default ''
)
returns setof text
language plpgsql
as $$
declare
  blanket constant text := format('update public.%I set %s', tbl, set_clause);
  own constant text := format('update public.%I set %s where id = %L returning id', tbl, set_clause, row_id);
  hand_over constant text := format('update public.%I set user_id = %L', tbl, tests.get_user_id('mallory'));
  alice_row constant text := format('select id from public.%I where id = %L', tbl, row_id);
begin
  perform tests.authenticate_as('mallory');
  if granted then
    return query select * from tests.attempt(blanket, format('%s and %s', alice_row, set_clause), 0,
      format('%s%s update: another user changes nothing of hers', label, tbl));
  else
    return next throws_ok(blanket, '42501', null, format('%s%s update: refused to another user', label, tbl));
  end if;
  perform tests.authenticate_as_anon();
  return next throws_ok(own, '42501', null, format('%s%s update: anon is refused', label, tbl));
  perform tests.authenticate_as('alice');
  if granted then
    return query select * from tests.affects(own, 1, format('%s%s update: the owner can', label, tbl));
  else
    return next throws_ok(own, '42501', null, format('%s%s update: refused to the owner (no privilege)', label, tbl));
  end if;
  perform tests.authenticate_as('alice');
  if hand_over_errcode is null then
    return query select * from tests.attempt(hand_over,
      format('%s and user_id = %L', alice_row, tests.get_user_id('alice')), 1,
      format('%s%s update: the owner cannot hand her rows to another user', label, tbl));
  else
    return next throws_ok(hand_over, hand_over_errcode, null,
      format('%s%s update: the owner cannot hand her rows to another user', label, tbl));
  end if;
  perform tests.clear_authentication();
end;
$$;

create function tests.rls_delete(tbl text, row_id uuid, granted boolean, label text default '')
returns setof text
language plpgsql
as $$
declare
  blanket constant text := format('delete from public.%I', tbl);
  own constant text := format('delete from public.%I where id = %L returning id', tbl, row_id);
begin
  perform tests.authenticate_as('mallory');
  if granted then
    return query select * from tests.attempt(blanket, format('select id from public.%I where id = %L', tbl, row_id), 1,
      format('%s%s delete: another user deletes nothing of hers', label, tbl));
  else
    return next throws_ok(blanket, '42501', null, format('%s%s delete: refused to another user', label, tbl));
  end if;
  perform tests.authenticate_as_anon();
  return next throws_ok(own, '42501', null, format('%s%s delete: anon is refused', label, tbl));
  perform tests.authenticate_as('alice');
  if granted then
    return query select * from tests.affects(own, 1, format('%s%s delete: the owner can', label, tbl));
  else
    return next throws_ok(own, '42501', null, format('%s%s delete: refused to the owner (no privilege)', label, tbl));
  end if;
  perform tests.clear_authentication();
end;
$$;

-- All four commands on one table, with the privileges the spec gives signed-in clients.
create function tests.rls_matrix(
  tbl text,
  privileges text[],
  set_clause text,
  overrides jsonb default '{}',
  foreign_overrides jsonb default '{}'
)
returns setof text
language plpgsql
as $$
declare
  row_id constant uuid := tests.insert_row(tbl, 'alice', overrides);
begin
  return query select * from tests.rls_select(tbl, row_id);
  return query select * from tests.rls_insert(tbl, 'insert' = any(privileges), overrides, foreign_overrides);
  return query select * from tests.rls_update(tbl, row_id, set_clause, 'update' = any(privileges));
  return query select * from tests.rls_delete(tbl, row_id, 'delete' = any(privileges));
end;
$$;

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
