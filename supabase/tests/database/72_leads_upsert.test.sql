-- The leads' upsert target: (user_id, email_normalized), a unique constraint on a column the
-- database keeps, so `on conflict (user_id, email_normalized)` (supabase-js onConflict) works
-- as the signed-in user; a case variant is a duplicate named by the constraint; another owner
-- may hold the same address; nobody writes email_normalized. And public.import_leads: one
-- batch as the caller, refused rows reported alone, modes, merges, subscription state, RLS.
begin;
\ir _helpers.psql

select plan(23);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('bob');
end;
$$;

select tests.authenticate_as('alice');

insert into public.leads (email, first_name) values ('Ada@Example.com', 'Ada')
on conflict (user_id, email_normalized) do nothing;
select is((select email_normalized from public.leads), 'ada@example.com',
  'email_normalized is the lower-cased address');

select lives_ok(
  $$insert into public.leads (email, first_name) values ('ADA@example.COM', 'Ada L.')
    on conflict (user_id, email_normalized) do update set first_name = excluded.first_name$$,
  'the signed-in user upserts on (user_id, email_normalized)');
select results_eq($$select count(*)::integer, min(first_name) from public.leads$$,
  $$values (1, 'Ada L.')$$, 'the case variant updated the one lead');

select throws_ok(
  $$insert into public.leads (email) values ('ada@EXAMPLE.com')$$,
  '23505', 'duplicate key value violates unique constraint "leads_user_id_email_key"',
  'a case-variant duplicate fails with the constraint''s name');

select throws_ok(
  $$insert into public.leads (email, email_normalized) values ('x@example.com', 'x@example.com')$$,
  '428C9', null, 'clients cannot insert email_normalized (generated)');
select throws_ok(
  $$update public.leads set email_normalized = 'y@example.com'$$,
  '428C9', null, 'clients cannot update email_normalized (generated)');
select ok(not has_column_privilege('authenticated', 'public.leads', 'email_normalized', 'INSERT')
  and not has_column_privilege('authenticated', 'public.leads', 'email_normalized', 'UPDATE'),
  'authenticated holds no insert/update privilege on email_normalized');

select tests.authenticate_as('bob');
select lives_ok($$insert into public.leads (email) values ('ada@example.com')$$,
  'another owner may hold the same email');

-- ==== import_leads ====
select tests.authenticate_as('alice');
select is(
  public.import_leads($$[
    {"email": "ada@example.com", "tags": ["vip"], "custom_fields": {"plan": "pro"}},
    {"email": "not-an-email"},
    {"email": "grace@example.com", "status": "nope"},
    {"email": "Linus@Example.com", "first_name": "Linus", "tags": ["a", "a", "b"]}
  ]$$) - 'errors',
  '{"inserted": 1, "updated": 1, "unchanged": 0, "failed": 2}',
  'a batch: the new lead inserted, the existing one updated, two refused');
select is(
  public.import_leads($$[{"email": "x"}, {"email": "y@example.com", "phone": "abc"}]$$) -> 'errors',
  $$[{"index": 1, "field": "email", "message": "new row for relation \"leads\" violates check constraint \"leads_email_check\""},
     {"index": 2, "field": "phone", "message": "new row for relation \"leads\" violates check constraint \"leads_phone_check\""}]$$,
  'refused rows come with their position, the field and the database''s message');
select results_eq(
  $$select first_name, tags, custom_fields from public.leads where email_normalized = 'linus@example.com'$$,
  $$values ('Linus'::text, '{a,b}'::text[], '{}'::jsonb)$$, 'tags are deduplicated on insert');
select is(
  public.import_leads($$[{"email": "ADA@example.com", "tags": ["new", "vip"], "custom_fields": {"seats": "5"}}]$$) - 'errors',
  '{"inserted": 0, "updated": 1, "unchanged": 0, "failed": 0}', 'an update merges');
select results_eq(
  $$select first_name, tags, custom_fields from public.leads where email_normalized = 'ada@example.com'$$,
  $$values ('Ada L.'::text, '{vip,new}'::text[], '{"plan": "pro", "seats": "5"}'::jsonb)$$,
  'tags merged (existing first), custom_fields merged, absent fields kept');
select is(
  public.import_leads($$[{"email": "ada@example.com", "tags": ["vip"]}]$$) - 'errors',
  '{"inserted": 0, "updated": 0, "unchanged": 1, "failed": 0}', 'nothing new is unchanged');
select is(
  public.import_leads($$[{"email": "ada@example.com", "first_name": "Zed"}, {"email": "new@example.com"}]$$, 'insert_only') - 'errors',
  '{"inserted": 1, "updated": 0, "unchanged": 1, "failed": 0}', 'insert_only leaves existing leads alone');
select is(
  public.import_leads($$[{"email": "ada@example.com", "first_name": "Zed"}, {"email": "nobody@example.com"}]$$, 'update_only'),
  '{"inserted": 0, "updated": 1, "unchanged": 0, "failed": 1, "errors": [{"index": 2, "field": "email", "message": "no lead has this email (mode update_only does not insert)"}]}',
  'update_only inserts nothing and says so per row');
select throws_ok($$select public.import_leads('{}')$$, '22023',
  'import_leads: rows must be a JSON array of lead objects', 'rows must be an array');

-- subscription_status (migration import_subscription_status).
select is(
  (public.import_leads($$[{"email": "ada@example.com", "subscription_status": "unsubscribed"},
                        {"email": "sub@example.com", "subscription_status": "unconfirmed"},
                        {"email": "odd@example.com", "subscription_status": "maybe"}]$$) #> '{errors,0}') - 'message',
  '{"index": 3, "field": "subscription_status"}', 'a state the column refuses is a row error naming the field');
select results_eq(
  $$select email_normalized, subscription_status from public.leads
    where email_normalized in ('ada@example.com', 'sub@example.com') order by 1$$,
  $$values ('ada@example.com', 'unsubscribed'), ('sub@example.com', 'unconfirmed')$$,
  'the other rows take the file''s state');
select tests.clear_authentication();
insert into public.email_suppressions (user_id, email, reason) values (tests.get_user_id('alice'), 'ada@example.com', 'complaint');
select tests.authenticate_as('alice');
select is(
  public.import_leads($$[{"email": "ada@example.com", "subscription_status": "subscribed"}]$$) - 'errors',
  '{"inserted": 0, "updated": 0, "unchanged": 1, "failed": 0}',
  'an address that complained is not subscribed again by an import');

select tests.authenticate_as('bob');
select is(
  public.import_leads('[{"email": "ada@example.com", "first_name": "Bob''s"}]') - 'errors',
  '{"inserted": 0, "updated": 1, "unchanged": 0, "failed": 0}', 'bob''s import updates his lead');
select is((select first_name from public.leads where email_normalized = 'ada@example.com'),
  'Bob''s', 'bob sees his own lead only, updated');
select tests.clear_authentication();
select is(
  (select first_name from public.leads
   where user_id = tests.get_user_id('alice') and email_normalized = 'ada@example.com'),
  'Zed', 'alice''s lead with the same email is untouched by bob''s import');

select * from finish();
rollback;
