-- Row level security on the audience tables (lists, list_memberships, forms, consents,
-- segments), with the matrix of 03_rls: the owner (alice) reads and changes her rows as her
-- privileges allow; another user (mallory) reads none of them, changes and deletes nothing of
-- hers; alice cannot file a row under mallory (42501); anon is refused outright (42501). The
-- last section widens the withheld privileges for a moment (consents are written by the
-- system only; user_id is written by no client) to show the policies alone keep tenants apart.
begin;
\ir _helpers.psql

select plan(95);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

select tests.insert_row('lists', 'alice') as alice_list,
  tests.insert_row('lists', 'mallory') as mallory_list,
  tests.insert_row('leads', 'alice') as alice_lead,
  tests.insert_row('leads', 'alice') as alice_other_lead,
  tests.insert_row('leads', 'mallory') as mallory_lead \gset

-- The matrix ---------------------------------------------------------------------------

select * from tests.rls_matrix('lists', '{select,insert,update,delete}', 'name = ''Renamed''');
select * from tests.rls_matrix('list_memberships', '{select,insert,update,delete}',
  'unsubscribed_at = ''2026-01-01T00:00:00Z''',
  jsonb_build_object('list_id', :'alice_list', 'lead_id', :'alice_lead'),
  jsonb_build_object('list_id', :'mallory_list', 'lead_id', :'mallory_lead'),
  'lead_id');
select * from tests.rls_matrix('forms', '{select,insert,update,delete}', 'name = ''Renamed''');
select * from tests.rls_matrix('consents', '{select}', 'purpose = ''renamed''',
  jsonb_build_object('lead_id', :'alice_lead'), jsonb_build_object('lead_id', :'mallory_lead'));
select * from tests.rls_matrix('segments', '{select,insert,update,delete}', 'name = ''Renamed''');

-- ==== alice ====
-- A membership's insert policy also asks that the lead be hers.
select tests.authenticate_as('alice');
select throws_ok(
  format('insert into public.list_memberships (list_id, lead_id) values (%L, %L)', :'alice_list', :'mallory_lead'),
  '42501', null, 'list_memberships insert: the owner cannot put another user''s lead on her list');
select tests.clear_authentication();

-- Defence in depth: the withheld privileges granted (inside this transaction only) ---

grant insert, update, delete on public.consents to authenticated;
grant insert (user_id) on public.segments to authenticated;
grant update (user_id) on public.lists, public.list_memberships, public.forms, public.segments to authenticated;

select * from tests.rls_insert('consents', true, jsonb_build_object('lead_id', :'alice_lead'),
  jsonb_build_object('lead_id', :'mallory_lead'), label => '(grant widened) ');
select * from tests.rls_update('consents',
  tests.insert_row('consents', 'alice', jsonb_build_object('lead_id', :'alice_lead')),
  'purpose = ''renamed''', true, label => '(grant widened) ');
select * from tests.rls_delete('consents',
  tests.insert_row('consents', 'alice', jsonb_build_object('lead_id', :'alice_lead')), true, '(grant widened) ');
select * from tests.rls_insert('segments', true, label => '(grant widened) ');
select * from tests.rls_update('lists', tests.insert_row('lists', 'alice'), 'name = ''Renamed''', true,
  label => '(grant widened) ');
select * from tests.rls_update('list_memberships',
  tests.insert_row('list_memberships', 'alice',
    jsonb_build_object('list_id', :'alice_list', 'lead_id', :'alice_other_lead'), 'lead_id'),
  'unsubscribed_at = ''2026-01-01T00:00:00Z''', true, label => '(grant widened) ', key_column => 'lead_id');
select * from tests.rls_update('forms', tests.insert_row('forms', 'alice'), 'name = ''Renamed''', true,
  label => '(grant widened) ');
select * from tests.rls_update('segments', tests.insert_row('segments', 'alice'), 'name = ''Renamed''', true,
  label => '(grant widened) ');

select * from finish();
rollback;
