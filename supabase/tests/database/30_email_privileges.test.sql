-- Who may touch the email pipeline: the owner reads her deliveries and nobody writes them
-- through the API; the queue and the metrics notes are private; every function of the
-- pipeline is closed to PUBLIC, anon, authenticated and service_role (the dispatcher calls
-- them as postgres); only the two triggers that must reach private tables on a client's
-- behalf are security definer; pg_cron runs the tick every minute.
begin;
\ir _helpers.psql

select plan(103);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

-- The catalog ------------------------------------------------------------------------------------
select has_table('public', t, format('public.%s exists', t))
from unnest(array['email_deliveries', 'email_suppressions']) with ordinality as x (t, n) order by n;
select has_view('private', 'email_queue', 'private.email_queue exists (a view of the jobs of kind email)');
select has_table('private', 'email_metrics_stale', 'private.email_metrics_stale exists');

select isnt(obj_description(t::regclass, 'pg_class'), null, format('%s has a comment', t))
from unnest(array['public.email_deliveries', 'public.email_suppressions', 'private.email_queue',
                  'private.email_metrics_stale']) with ordinality as x (t, n) order by n;

select ok((select relrowsecurity from pg_class where oid = t::regclass), format('%s has row level security', t))
from unnest(array['public.email_deliveries', 'public.email_suppressions']) with ordinality as x (t, n) order by n;

select is(
  (select string_agg(concat_ws(' | ', policyname, cmd, roles::text, coalesce(qual, '-'), coalesce(with_check, '-')),
     E'\n' order by policyname) from pg_policies where schemaname = 'public' and tablename = 'email_suppressions'),
  concat_ws(E'\n',
    'owner can delete | DELETE | {authenticated} | ((user_id = ( SELECT auth.uid() AS uid)) AND (reason = ''manual''::text)) | -',
    'owner can insert | INSERT | {authenticated} | - | ((user_id = ( SELECT auth.uid() AS uid)) AND (reason = ''manual''::text))',
    'owner can select | SELECT | {authenticated} | (user_id = ( SELECT auth.uid() AS uid)) | -',
    'owner can update | UPDATE | {authenticated} | (user_id = ( SELECT auth.uid() AS uid)) | (user_id = ( SELECT auth.uid() AS uid))'),
  'email_suppressions: owner policies, inserts and deletes of manual entries only'
);
select is(
  (select count(*)::integer from pg_policies where schemaname = 'public' and tablename = 'email_deliveries'
     and roles = '{authenticated}' and coalesce(qual, with_check) = '(user_id = ( SELECT auth.uid() AS uid))'),
  4, 'email_deliveries: the four owner policies'
);

-- Table privileges per role.
select table_privs_are('public', 'email_deliveries', 'authenticated', array['SELECT'],
  'authenticated may only read email_deliveries');
select table_privs_are('public', 'email_suppressions', 'authenticated', array['SELECT', 'DELETE'],
  'authenticated may read and delete suppressions (and insert by column, below)');
select ok(
  has_column_privilege('authenticated', 'public.email_suppressions', c, 'INSERT') = (c <> 'created_at'),
  format('authenticated %s insert email_suppressions.%s', case when c = 'created_at' then 'may not' else 'may' end, c)
)
from unnest(array['id', 'user_id', 'email', 'reason', 'email_campaign_id', 'created_at']) with ordinality as x (c, n) order by n;
select ok(
  not has_any_column_privilege('authenticated', 'public.email_suppressions', 'UPDATE'),
  'authenticated may not update suppressions'
);
select ok(
  has_column_privilege('authenticated', 'public.email_campaigns', c, 'INSERT')
    and has_column_privilege('authenticated', 'public.email_campaigns', c, 'UPDATE'),
  format('authenticated may set email_campaigns.%s', c)
)
from unnest(array['from_email', 'from_name', 'reply_to']) with ordinality as x (c, n) order by n;
select table_privs_are('public', t, 'anon', '{}', format('anon has no privilege on %s', t))
from unnest(array['email_deliveries', 'email_suppressions']) with ordinality as x (t, n) order by n;
select table_privs_are('public', t, 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
  format('service_role may select, insert, update and delete %s', t))
from unnest(array['email_deliveries', 'email_suppressions']) with ordinality as x (t, n) order by n;
select table_privs_are('private', t, r, '{}', format('%s has no privilege on private.%s', r, t))
from unnest(array['email_queue', 'email_metrics_stale']) with ordinality as x (t, n)
cross join unnest(array['anon', 'authenticated', 'service_role']) with ordinality as y (r, m)
order by n, m;

-- Functions: closed to the API roles, search_path pinned, definer only where needed.
create table tests.functions (ord serial, sig text, definer boolean);
insert into tests.functions (sig, definer) values
  ('private.enforce_email_campaign_lifecycle()', false),
  -- Definer: the owner saves lists from the app; the check lives in private.
  ('private.check_recipient_list()', true),
  ('private.recipient_list_problem(jsonb)', false),
  ('private.resolve_email_recipients(uuid, jsonb)', false),
  ('private.fan_out_email_campaign(uuid)', false),
  ('private.apply_email_campaign_status()', true),
  ('private.note_email_metrics_stale()', true),
  ('private.email_campaign_metrics(uuid)', false),
  ('private.email_max_attempts()', false),
  ('private.claim_email_batch(text, integer, interval)', false),
  ('private.retry_backoff(integer)', false),
  ('private.queue_result_problem(jsonb, integer, text, text)', false),
  ('private.complete_email_batch(text, jsonb)', false),
  ('private.record_email_event(text, uuid, timestamp with time zone, boolean, jsonb)', false),
  ('private.find_delivery_by_provider_id(text)', false),
  ('private.email_tick()', false),
  ('private.email_tick_units(text)', false),
  ('private.email_tick_run(text, uuid[])', false),
  ('private.fail_email_campaign(uuid, text, text)', false),
  ('private.log_email_event(public.email_deliveries, text, timestamp with time zone, boolean, jsonb)', false),
  ('private.write_email_delivery_facts(public.email_deliveries)', false),
  ('private.restart_email_unsubscribe_workflows(uuid)', false),
  ('private.retry_email_unsubscribe_effects(integer)', false),
  ('private.keep_email_unsubscribe_keys()', true),
  ('private.purge_email_unsubscribe_keys()', false);

select is(
  (select array_agg(a.grantee::regrole::text order by 1)
   from pg_proc as p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) as a
   where p.oid = f.sig::regprocedure and a.privilege_type = 'EXECUTE'),
  array['postgres'],
  format('%s: only its owner may execute it', f.sig)
)
from tests.functions as f
order by f.ord;

select is(
  (select row(p.prosecdef, p.proconfig @> array['search_path=""'])::text from pg_proc as p where p.oid = f.sig::regprocedure),
  row(f.definer, true)::text,
  format('%s: %s, search_path pinned', f.sig, case when f.definer then 'security definer' else 'security invoker' end)
)
from tests.functions as f
order by f.ord;

select isnt(obj_description(f.sig::regprocedure, 'pg_proc'), null, format('%s has a comment', f.sig))
from tests.functions as f
where f.sig in ('private.claim_email_batch(text, integer, interval)', 'private.complete_email_batch(text, jsonb)',
  'private.record_email_event(text, uuid, timestamp with time zone, boolean, jsonb)', 'private.email_tick()')
order by f.ord;

-- pg_cron ------------------------------------------------------------------------------------------
select results_eq(
  $$select schedule, command, username from cron.job where jobname = 'beacon-email-tick'$$,
  $$values ('* * * * *'::text, 'select private.email_tick()'::text, 'postgres'::text)$$,
  'pg_cron runs the email tick every minute, as postgres'
);

-- Exercised -------------------------------------------------------------------------------------------
create table tests.fixture as
select tests.insert_row('email_campaigns', 'alice', '{"status": "scheduled", "send_at": "2020-01-01T00:00:00Z",
  "recipient_list": ["one@example.test", "two@example.test"]}') as campaign_id;
update public.email_campaigns set status = 'sending' where id = (select campaign_id from tests.fixture);
grant select on tests.fixture to authenticated, anon, service_role;

-- As alice (the owner) -----------------------------------------------------------------------------
select tests.authenticate_as('alice');
select results_eq(
  'select email, status from public.email_deliveries order by email',
  $$values ('one@example.test', 'queued'), ('two@example.test', 'queued')$$,
  'the owner reads her deliveries, their state and errors'
);
select throws_ok(
  format($$insert into public.email_deliveries (email_campaign_id, email, idempotency_key) values (%L, 'x@example.test', 'k')$$,
    (select campaign_id from tests.fixture)),
  '42501', null, 'the owner cannot insert a delivery'
);
select throws_ok($$update public.email_deliveries set status = 'sent'$$, '42501', null, 'the owner cannot update a delivery');
select throws_ok($$update public.email_deliveries set opened_at = now()$$, '42501', null, '... nor fake an open');
select throws_ok($$delete from public.email_deliveries$$, '42501', null, 'the owner cannot delete a delivery');
select throws_ok('select * from private.email_queue', '42501', 'permission denied for schema private',
  'the owner cannot see the queue');
select throws_ok($$select * from private.claim_email_batch('alice')$$, '42501', 'permission denied for schema private',
  'the owner cannot claim');
select throws_ok($$select private.email_tick()$$, '42501', 'permission denied for schema private',
  'the owner cannot run the tick');

-- As mallory (another user) ----------------------------------------------------------------------
select tests.authenticate_as('mallory');
select is_empty('select id from public.email_deliveries', 'another user sees none of alice''s deliveries');
select * from tests.affects(
  format($$update public.email_campaigns set status = 'paused' where id = %L returning id$$, (select campaign_id from tests.fixture)),
  0, 'another user cannot pause alice''s campaign'
);

-- As anon ------------------------------------------------------------------------------------------
select tests.authenticate_as_anon();
select throws_ok('select * from public.email_deliveries', '42501', null, 'anon cannot read deliveries');
select throws_ok($$select private.record_email_event('opened', gen_random_uuid(), now())$$, '42501',
  'permission denied for schema private', 'anon cannot record events');

-- As the service (a service_role key through PostgREST) ------------------------------------------------
select tests.authenticate_as_service_role();
select is(
  (select count(*)::integer from public.email_deliveries where email_campaign_id = (select campaign_id from tests.fixture)),
  2, 'the service reads every delivery'
);
select throws_ok($$select * from private.claim_email_batch('svc')$$, '42501', 'permission denied for schema private',
  'the service role cannot reach the queue functions through the API (the dispatcher runs as postgres)');
select tests.clear_authentication();

select * from finish();
rollback;
