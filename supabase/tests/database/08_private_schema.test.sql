-- What the API can reach: the private schema is closed to anon and authenticated (schema
-- and functions), public holds only the tables and the one RPC, and calculate_lead_score
-- may be executed by signed-in users and the service, not by anon.
begin;
\ir _helpers.psql

select plan(18);

do $$ begin perform tests.create_user('alice'); end; $$;

select has_schema('private', 'the private schema exists');

select is_empty(
  $$select a.grantee::regrole::text || ' ' || a.privilege_type
    from pg_namespace as n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) as a
    where n.nspname = 'private'
      and (a.grantee = 0 or a.grantee in ('anon'::regrole, 'authenticated'::regrole))$$,
  'PUBLIC, anon and authenticated hold no privilege on schema private'
);

-- Functions in private: execute closed to PUBLIC, anon and authenticated.
select ok(
  (select not exists (
     select 1
     from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) as a
     where a.privilege_type = 'EXECUTE'
       and (a.grantee = 0 or a.grantee in ('anon'::regrole, 'authenticated'::regrole)))
   from pg_proc as p
   where p.oid = to_regprocedure(sig)),
  format('%s exists and PUBLIC, anon and authenticated may not execute it', sig)
)
from unnest(array[
  'private.set_updated_at()',
  'private.secure_tenant_table(regclass)',
  'private.set_lead_score()',
  'private.set_execution_owner()'
]) with ordinality as f (sig, n)
order by n;

select is_empty(
  $$select p.oid::regprocedure::text
    from pg_proc as p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) as a
    where p.pronamespace in ('public'::regnamespace, 'private'::regnamespace)
      and a.privilege_type = 'EXECUTE'
      and (a.grantee = 0 or a.grantee = 'anon'::regrole
           or (a.grantee = 'authenticated'::regrole and p.pronamespace = 'private'::regnamespace))$$,
  'no function in public or private is executable by PUBLIC or anon, nor one in private by authenticated'
);

-- The public surface.
select functions_are('public', array['calculate_lead_score', 'lead_profile_score', 'explain_lead_score', 'run_workflow',
    'create_write_key', 'revoke_write_key', 'report_events', 'report_top_events', 'report_top_pages', 'report_campaigns', 'report_campaign', 'report_funnel', 'report_sources', 'import_leads', 'export_lead_data', 'erase_lead',
    'segment_count', 'preview_segment', 'segment_leads', 'background_failures'],
  'public holds exactly the RPCs apps may call: calculate_lead_score, lead_profile_score, explain_lead_score, run_workflow, create_write_key, revoke_write_key, the reports (80_reports_*), import_leads, export_lead_data and erase_lead (77_lead_privacy), segment_count and preview_segment (91_segments), segment_leads (93_segment_leads), background_failures (53_background_failures)');
select is_empty(
  $$select relname::text || ' (' || relkind::text || ')' from pg_class
    where relnamespace = 'public'::regnamespace and relkind not in ('r', 'i', 'p', 'I')$$,
  'public holds nothing but tables (plain or partitioned) and their indexes (no views, sequences or foreign tables)'
);
select is_empty(
  $$select p.oid::regprocedure::text from pg_proc as p
    where p.pronamespace = 'public'::regnamespace and p.prosecdef$$,
  'no security definer function in public'
);

select function_privs_are('public', 'calculate_lead_score', array['uuid'], 'anon', '{}',
  'anon may not execute calculate_lead_score');
select function_privs_are('public', 'lead_profile_score', array['leads'], 'anon', '{}',
  'anon may not execute lead_profile_score');
select function_privs_are('public', 'calculate_lead_score', array['uuid'], 'authenticated', array['EXECUTE'],
  'authenticated may execute calculate_lead_score');
select function_privs_are('public', 'calculate_lead_score', array['uuid'], 'service_role', array['EXECUTE'],
  'service_role may execute calculate_lead_score');
select ok(
  not exists (
    select 1
    from pg_proc as p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) as a
    where p.oid = 'public.calculate_lead_score(uuid)'::regprocedure and a.grantee = 0
  ),
  'PUBLIC holds no privilege on calculate_lead_score'
);

-- Exercised --------------------------------------------------------------------------------
select tests.authenticate_as_anon();
select throws_ok(
  $$select calculate_lead_score(gen_random_uuid())$$,
  '42501',
  'permission denied for function calculate_lead_score',
  'anon calling calculate_lead_score is refused'
);
select throws_ok(
  $$select private.secure_tenant_table('public.campaigns')$$,
  '42501',
  'permission denied for schema private',
  'anon cannot call into the private schema'
);

select tests.authenticate_as('alice');
select throws_ok(
  $$select private.secure_tenant_table('public.campaigns')$$,
  '42501',
  'permission denied for schema private',
  'a signed-in user cannot call into the private schema'
);

select * from finish();
rollback;
