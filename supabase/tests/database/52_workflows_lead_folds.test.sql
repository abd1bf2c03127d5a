-- A batch's runs of one lead in one write (20261213110000_workflow_lead_folds): when every run
-- of a lead in the batch is lead steps to its end and its owner has no workflow that a lead
-- update starts, the set-based worker writes the lead once for all of them, and the lead, the
-- ledger and every step result are what one run after another leaves. A lead with any other
-- run, an owner with a watcher, and a lead whose tags would break their check keep the lanes:
-- one write per run, the watcher fired per run, the failing run named alone.
begin;
\ir _helpers.psql

select plan(17);

select tests.set_aside_queued_work();

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('bob');
end;
$$;

insert into public.scoring_rules (user_id, name, condition, points)
values (tests.get_user_id('alice'), 'vip', '{"type": "tag_present", "tag": "vip"}', 50);
do $$ begin perform private.rescore_leads(tests.get_user_id('alice')); end; $$;

-- f* fold, o* run one at a time; *top start 10 below the score's bound; m* have a run with a
-- condition among their runs; full has no room for another tag.
insert into public.leads (user_id, email, tags)
select tests.get_user_id('alice'), a, case when a = 'full@acme.com' then (select array_agg('t' || n) from generate_series(1, 100) as n) else '{}' end
from unnest(array['f1@acme.com', 'f2@acme.com', 'ftop@acme.com', 'o1@acme.com', 'o2@acme.com', 'otop@acme.com',
                  'm1@acme.com', 'full@acme.com', 'g1@acme.com', 'near@acme.com']) as a;
update public.leads set tags = (select array_agg('t' || n) from generate_series(1, 99) as n) where email = 'near@acme.com';
insert into public.leads (user_id, email) values (tests.get_user_id('bob'), 'b1@bob.example'), (tests.get_user_id('bob'), 'b2@bob.example');
do $$
begin
  insert into public.lead_score_ledger (user_id, lead_id, points, source, reason)
  select l.user_id, l.id, 99990, 'workflow', 'fixture' from public.leads as l where l.email like '_top@%';
  perform set_config('beacon.trusted_score_write', 'on', true);
  update public.leads set score = 99990 where email like '_top@%';
  perform set_config('beacon.trusted_score_write', '', true);
end;
$$;

-- Three runs per lead, in this order: the vip tag comes, goes and comes back (profile points
-- +50, -50, +50), the score steps cross the bound on *top.
do $$
begin
  perform tests.workflow('a', steps => '[
    {"type": "add_tag", "tag": "vip"},
    {"type": "set_field", "key": "plan", "value": "pro"},
    {"type": "adjust_score", "points": 10}]');
  perform tests.workflow('b', steps => '[
    {"type": "remove_tag", "tag": "vip"},
    {"type": "adjust_score", "points": 10},
    {"type": "set_field", "key": "plan", "value": null},
    {"type": "add_tag", "tag": "seen"}]');
  perform tests.workflow('c', steps => '[
    {"type": "add_tag", "tag": "vip"},
    {"type": "adjust_score", "points": -5},
    {"type": "add_tag", "tag": "seen"}]');
  perform tests.workflow('check', steps => '[
    {"type": "condition", "conditions": {"tags": {"any": ["vip"]}}},
    {"type": "add_tag", "tag": "checked"}]');
  perform tests.workflow('tagger', steps => '[{"type": "add_tag", "tag": "tagged"}]');
  perform tests.workflow('grow', steps => '[{"type": "add_tag", "tag": "x"}, {"type": "add_tag", "tag": "y"}]');
  perform tests.workflow('shrink', steps => '[{"type": "remove_tag", "tag": "x"}, {"type": "remove_tag", "tag": "y"}]');
  perform tests.workflow('bob tags', steps => '[{"type": "add_tag", "tag": "seen"}]', owner => 'bob');
  perform tests.workflow('bob watches', '{"type": "tag_added", "tag": "seen"}',
    '[{"type": "set_field", "key": "watched", "value": true}]', owner => 'bob');
end;
$$;

create table tests.started as
with request as (
  insert into public.workflow_run_requests (user_id, workflow_id, lead_id)
  select w.user_id, w.id, l.id
  from public.workflows as w
  join public.leads as l on l.user_id = w.user_id
  where (w.name in ('a', 'b', 'c') and l.email ~ '^(f|o)(1|2|top)@')
     or (w.name in ('a', 'check') and l.email = 'm1@acme.com')
     or (w.name = 'tagger' and l.email in ('full@acme.com', 'g1@acme.com'))
     or (w.name in ('grow', 'shrink') and l.email = 'near@acme.com')
     or (w.name = 'bob tags')
  returning execution_id, workflow_id, lead_id
)
select * from request;
-- A lead's runs wait in name order (a, b, c; a before check), the order both ways run them.
update private.workflow_runs as r
set run_after = r.run_after - make_interval(secs => 10 - w.n)
from (select w.id, row_number() over (order by w.name)::integer as n from public.workflows as w) as w
where w.id = r.workflow_id;
-- The taggers and near's runs wait for a batch of their own (below).
update private.workflow_runs as r
set run_after = r.run_after + interval '1 hour'
from public.workflows as w
where w.id = r.workflow_id and w.name in ('tagger', 'grow', 'shrink');

create function tests.lead_writes()
returns bigint
language sql
as $$ select n_tup_upd from pg_stat_xact_user_tables where relid = 'public.leads'::regclass $$;

-- One at a time, in the worker's order, for the o* leads.
select tests.run_one_by_one('o%');

create table tests.writes as select tests.lead_writes() as before;
select is(private.run_workflow_batch(1000), 13,
  'one batch runs the nine runs on f* leads, m1''s two and bob''s two');
-- f1, f2, ftop once each; m1 twice (a, check: lanes); bob's b1, b2 once each.
select is(tests.lead_writes() - (select before from tests.writes), 7::bigint,
  'the fold writes each of its leads once for their three runs; the lanes write per run');

create function tests.leads(prefix text)
returns setof text
language sql
as $$
  select substr(l.email, 2) || ' ' || l.score || ' ' || l.tags::text || ' ' || l.custom_fields::text
  from public.leads as l
  where l.email ~ ('^' || prefix || '(1|2|top)@')
  order by l.email
$$;
create function tests.ledger(prefix text)
returns setof text
language sql
as $$
  select substr(l.email, 2) || ' ' || g.points || ' ' || w.name
  from public.lead_score_ledger as g
  join public.leads as l on l.id = g.lead_id
  join public.workflows as w on w.id = g.workflow_id
  where l.email ~ ('^' || prefix || '(1|2)@') and g.source = 'workflow'
  order by l.email, w.name, g.points
$$;
-- Step results without their time and the score after each step: the fold counts the
-- profile points of all a lead's runs first (as one run counts its own first), so the score
-- between steps differs; statuses and points do not, away from the bound.
create function tests.results(prefix text)
returns setof text
language sql
as $$
  select w.name || ' ' || substr(l.email, 2) || ' ' || e.status || ' '
    || (select jsonb_agg(r - 'at' - 'score' order by x.n) from jsonb_array_elements(e.step_results) with ordinality as x (r, n))::text
  from tests.started as s
  join public.workflow_executions as e on e.id = s.execution_id
  join public.workflows as w on w.id = s.workflow_id
  join public.leads as l on l.id = s.lead_id
  where l.email ~ ('^' || prefix || '(1|2)@')
  order by l.email, w.name
$$;

select results_eq($$select * from tests.leads('f')$$, $$select * from tests.leads('o')$$,
  'every folded lead ends as one run after another leaves it (score at the bound, tags, fields)');
select is(
  (select string_agg(x, ', ') from tests.leads('f') as x),
  '1@acme.com 65 {seen,vip} {}, 2@acme.com 65 {seen,vip} {}, top@acme.com 99995 {seen,vip} {}',
  'fixture check: +50 vip, +10, -50, +10, +50, -5 from 0, and from 99990 with the bound cutting some');
select results_eq($$select * from tests.ledger('f')$$, $$select * from tests.ledger('o')$$,
  'away from the bound, the same workflow points are ledgered, each for its own workflow');
select results_eq($$select * from tests.results('f')$$, $$select * from tests.results('o')$$,
  'every execution has the same status and step statuses and points');
select is(
  (select string_agg(w.name || ':' || coalesce((r ->> 'points') || '=' || (r ->> 'score'), r ->> 'status'), ' ' order by w.name)
   from tests.started as s
   join public.workflow_executions as e on e.id = s.execution_id
   join public.workflows as w on w.id = s.workflow_id
   join public.leads as l on l.id = s.lead_id
   cross join jsonb_array_elements(e.step_results) as r
   where l.email = 'ftop@acme.com' and r ->> 'type' = 'adjust_score'),
  'a:unchanged b:unchanged c:-5=99995',
  'at the bound: the fold''s profile points (+50) first, then each score step clamped in order');
select is(
  (select string_agg(g.source || ' ' || g.points, ', ' order by g.source, g.points)
   from public.lead_score_ledger as g join public.leads as l on l.id = g.lead_id
   where l.email = 'ftop@acme.com' and g.reason <> 'fixture'),
  'rule 10, workflow -5',
  'and its ledger: the profile points once, as the rules'' (cut at the bound), and the one score step that moved');
select is(
  (select count(*)::integer from public.lead_score_ledger as g join tests.started as s on s.execution_id = g.execution_id
   join public.leads as l on l.id = s.lead_id where l.email ~ '^f(1|2|top)@' and g.lead_id = s.lead_id),
  (select count(*)::integer from tests.started as s
   join public.workflow_executions as e on e.id = s.execution_id
   join public.leads as l on l.id = s.lead_id
   cross join jsonb_array_elements(e.step_results) as r
   where l.email ~ '^f(1|2|top)@' and r ? 'points'),
  'a ledger row per score step that moved the score, on its own execution''s lead');
select is(
  (select string_agg(l.score - (select coalesce(sum(e.points), 0) from public.explain_lead_score(l.id) as e) || '', ',' order by l.email)
   from public.leads as l where l.email ~ '^f(1|2|top)@'),
  '0,0,0',
  'explain_lead_score still sums to each folded lead''s score');

-- Not folded: m1 (its check run has a condition), full (the fold failed on it), bob (a watcher).
select is(
  (select string_agg(w.name || ' ' || e.status, ', ' order by w.name)
   from tests.started as s join public.workflow_executions as e on e.id = s.execution_id
   join public.workflows as w on w.id = s.workflow_id join public.leads as l on l.id = s.lead_id
   where l.email = 'm1@acme.com'),
  'a completed, check completed',
  'a lead with a run of other steps keeps the lanes: its runs complete in order (the condition sees a''s tag)');
select is(
  (select l.tags @> '{vip,checked}' from public.leads as l where l.email = 'm1@acme.com'),
  true,
  'and the condition held on the tag the run before it added');
-- A batch of their own for the taggers and near's runs: full has no room for the tag, and
-- near's first run takes it past 100 tags before its second takes it back; neither folds, and
-- the lanes fail the run that breaks the tags' check, as one at a time would. (The two watcher
-- runs bob's tags started run here too.)
update private.workflow_runs as r
set run_after = r.run_after - interval '1 hour'
from public.workflows as w
where w.id = r.workflow_id and w.name in ('tagger', 'grow', 'shrink');
select is(private.run_workflow_batch(1000), 6, 'fixture: the second batch runs the two taggers, near''s two runs and bob''s two watcher runs');
select is(
  (select e.status || ' ' || coalesce(e.error_message, '-')
   from tests.started as s join public.workflow_executions as e on e.id = s.execution_id
   join public.leads as l on l.id = s.lead_id where l.email = 'full@acme.com'),
  'failed steps[0] (add_tag): new row for relation "leads" violates check constraint "leads_tags_check"',
  'a lead with no room for a tag does not fold: the lanes fail that run alone, naming its step');
select is(
  (select string_agg(w.name || ' ' || e.status || ' ' || coalesce(e.error_message, '-'), ', ' order by w.name)
   from tests.started as s join public.workflow_executions as e on e.id = s.execution_id
   join public.workflows as w on w.id = s.workflow_id
   join public.leads as l on l.id = s.lead_id where l.email = 'near@acme.com')
  || ' / ' || (select cardinality(tags) from public.leads where email = 'near@acme.com'),
  'grow failed steps[1] (add_tag): new row for relation "leads" violates check constraint "leads_tags_check", shrink completed - / 99',
  'a lead whose tags pass 100 between its runs does not fold: the run that passes it fails, as one at a time');
select is(
  (select string_agg(l.email || ' ' || e.status, ', ' order by l.email)
   from tests.started as s join public.workflow_executions as e on e.id = s.execution_id
   join public.leads as l on l.id = s.lead_id where l.email = 'g1@acme.com'),
  'g1@acme.com completed',
  'the batch''s other runs complete');
select is(
  (select count(*)::integer from public.workflow_executions as e join public.workflows as w on w.id = e.workflow_id
   where w.name = 'bob watches'),
  2,
  'an owner with a watcher keeps the lanes: the tag_added watcher started once per run that added the tag');

select * from finish();
rollback;
