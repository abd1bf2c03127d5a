-- The score ledger and explain_lead_score: the owner reads her leads' ledger and nobody
-- else's; no client can write it (so a score cannot be forged through it); the RPC
-- explain_lead_score(lead_id) returns one row per contribution (rule, engagement rule,
-- decay, workflow) whose points sum to the score, for the caller's own leads only.
begin;
\ir _helpers.psql

select plan(29);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

-- Shape and privileges ----------------------------------------------------------------------

select columns_are('public', 'lead_score_ledger',
  array['id', 'user_id', 'lead_id', 'points', 'source', 'reason', 'details', 'rule_id', 'event_id', 'workflow_id',
        'execution_id', 'created_at'],
  'lead_score_ledger has its columns');
select fk_ok('public', 'lead_score_ledger', 'lead_id', 'public', 'leads', 'id', 'ledger rows belong to a lead');
select table_privs_are('public', 'lead_score_ledger', 'authenticated', array['SELECT'],
  'authenticated may only select the ledger');
select table_privs_are('public', 'lead_score_ledger', 'anon', array[]::text[], 'anon has no privilege on the ledger');
select function_returns('public', 'explain_lead_score', array['uuid'], 'setof record',
  'explain_lead_score(uuid) returns rows');
select isnt_definer('public', 'explain_lead_score', array['uuid'], 'explain_lead_score runs as its caller (RLS decides)');
select function_privs_are('public', 'explain_lead_score', array['uuid'], 'anon', array[]::text[],
  'anon may not execute explain_lead_score');
select function_privs_are('public', 'explain_lead_score', array['uuid'], 'authenticated', array['EXECUTE'],
  'authenticated may execute explain_lead_score');

-- A lead with every kind of contribution --------------------------------------------------

insert into public.scoring_rules (user_id, name, condition, points)
select tests.get_user_id('alice'), name, condition, points
from (values
  ('vip', '{"type": "tag_present", "tag": "vip"}'::jsonb, 20),
  ('visits', '{"type": "event", "event_type": "visit"}', 8)
) as r (name, condition, points);
do $$ begin perform private.rescore_leads(tests.get_user_id('alice')); end; $$;

create table tests.fixture as
select
  tests.insert_row('leads', 'alice', '{"email": "ada@acme.com", "company": "Acme", "phone": "555 0100", "tags": ["vip"]}')
    as ada,
  tests.insert_row('leads', 'mallory', '{"email": "mal@acme.com", "company": "Evil"}') as mal,
  tests.insert_row('workflows', 'alice', '{"name": "Boost", "trigger_config": {"type": "manual"},
    "action_config": {"steps": [{"type": "adjust_score", "points": 7}]}}') as boost;
grant select on tests.fixture to authenticated, anon;

insert into public.analytics_events (user_id, event_type, event_name, properties)
select tests.get_user_id('alice'), 'visit', 'page ' || n, jsonb_build_object('lead_id', ada)
from tests.fixture, generate_series(1, 3) as n;
update private.lead_engagement set decayed_at = now() - interval '30 days' where lead_id = (select ada from tests.fixture);
insert into public.workflow_run_requests (user_id, workflow_id, lead_id)
select tests.get_user_id('alice'), boost, ada from tests.fixture;
do $$
begin
  perform private.decay_engagement();
  perform private.run_workflow_batch(1000);
end;
$$;

-- 10 company + 5 phone + 20 vip + 3 x 8 visits - 12 decay (24 halved in 30 days) + 7 workflow
select is((select score from public.leads where id = (select ada from tests.fixture)), 54,
  'ada''s score has all four kinds of contribution');

-- ==== acting as alice ====
select tests.authenticate_as('alice');

select is(
  (select string_agg(e.source || ' | ' || e.reason || ' | ' || e.points, E'\n' order by e.points desc, e.reason)
   from public.explain_lead_score((select ada from tests.fixture)) as e),
  concat_ws(E'\n',
    'event | engagement: visits | 24',
    'rule | rule: vip | 20',
    'rule | default rule: company given | 10',
    'workflow | workflow: Boost | 7',
    'rule | default rule: phone given | 5',
    'decay | engagement decay | -12'),
  'explain_lead_score: one row per contribution (the default rule''s two, the rule, the engagement, decay, the workflow)');
select is(
  (select sum(e.points)::integer from public.explain_lead_score((select ada from tests.fixture)) as e),
  (select score from public.leads where id = (select ada from tests.fixture)),
  'the contributions sum to the score');
select * from tests.affects(
  $$select g.id from public.lead_score_ledger as g where g.lead_id = (select ada from tests.fixture)$$, 6,
  'alice reads all six rows of her lead''s ledger (its creation, 3 events, 1 decay, 1 workflow)');
select is(
  (select sum(points)::integer from public.lead_score_ledger where lead_id = (select ada from tests.fixture)), 54,
  'the ledger she reads sums to the score');
select is(
  (select count(*)::integer from public.lead_score_ledger where event_id is not null and source = 'event'), 3,
  'each engagement row names its event');
select is(
  (select count(*)::integer from public.lead_score_ledger where workflow_id = (select boost from tests.fixture)
     and execution_id is not null), 1,
  'the workflow row names its workflow and execution');

-- Clients cannot write the ledger: no forged points.
select throws_ok(
  $$insert into public.lead_score_ledger (lead_id, points, source, reason)
    select ada, 1000, 'rule', 'forged' from tests.fixture$$,
  '42501', null, 'alice cannot add a ledger row');
select throws_ok($$update public.lead_score_ledger set points = 1000$$, '42501', null, 'alice cannot change ledger rows');
select throws_ok($$delete from public.lead_score_ledger$$, '42501', null, 'alice cannot delete ledger rows');
select throws_ok(
  format('select * from public.explain_lead_score(%L)', (select mal from tests.fixture)),
  'P0002', format('lead %s not found', (select mal from tests.fixture)),
  'explaining mallory''s lead fails as if it did not exist');

-- ==== acting as mallory ====
select tests.authenticate_as('mallory');
select * from tests.affects(
  $$select g.id from public.lead_score_ledger as g where g.lead_id = (select ada from tests.fixture)$$, 0,
  'mallory reads none of alice''s ledger');
select * from tests.affects($$select g.id from public.lead_score_ledger as g$$, 1,
  'mallory reads her own lead''s ledger (its company)');
select throws_ok(
  format('select * from public.explain_lead_score(%L)', (select ada from tests.fixture)),
  'P0002', format('lead %s not found', (select ada from tests.fixture)),
  'mallory cannot explain alice''s lead');
select is(
  (select array_agg(e.reason || ' ' || e.points) from public.explain_lead_score((select mal from tests.fixture)) as e),
  array['default rule: company given 10'], 'mallory''s own lead is explained by the default rule');

-- ==== acting as a visitor ====
select tests.authenticate_as_anon();
select throws_ok($$select * from public.lead_score_ledger$$, '42501', null, 'anon cannot read the ledger');
select throws_ok(
  format('select * from public.explain_lead_score(%L)', (select ada from tests.fixture)),
  '42501', null, 'anon cannot call explain_lead_score');

select tests.clear_authentication();

-- After the profile changes the explanation follows.
update public.leads set tags = '{}', phone = null where id = (select ada from tests.fixture);
select is(
  (select sum(e.points)::integer from public.explain_lead_score((select ada from tests.fixture)) as e),
  (select score from public.leads where id = (select ada from tests.fixture)),
  'after the lead loses its tag and phone, the contributions still sum to the score');
select is(
  (select count(*)::integer from public.explain_lead_score((select ada from tests.fixture)) as e where e.reason in ('rule: vip', 'default rule: phone given')),
  0, 'contributions that went are no longer listed');

-- A rule renamed is explained by its new name.
update public.scoring_rules set name = 'Site visits' where name = 'visits';
select is(
  (select e.reason from public.explain_lead_score((select ada from tests.fixture)) as e where e.source = 'event'),
  'engagement: Site visits', 'the explanation names rules by their current name');

-- Deleting the lead deletes its ledger.
delete from public.leads where id = (select ada from tests.fixture);
select is_empty($$select from public.lead_score_ledger where lead_id = (select ada from tests.fixture)$$,
  'deleting a lead deletes its ledger rows');

select * from finish();
rollback;
