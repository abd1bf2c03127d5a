-- A run of lead steps with score steps in it writes its lead once (20261212110000_workflow_lead_runs),
-- in the set-based worker and one at a time alike: the run's profile points count first, then
-- each score step within the score's bounds; each score step is ledgered as the workflow's,
-- the profile points as the rules'; the ledger and explain_lead_score still sum to the score.
begin;
\ir _helpers.psql

select plan(13);

select tests.set_aside_queued_work();

do $$ begin perform tests.create_user('alice'); end; $$;

insert into public.scoring_rules (user_id, name, condition, points)
values (tests.get_user_id('alice'), 'vip', '{"type": "tag_present", "tag": "vip"}', 50);
do $$ begin perform private.rescore_leads(tests.get_user_id('alice')); end; $$;

-- s* run set-based, o* one at a time; *top start 5 below the bound.
insert into public.leads (user_id, email)
select tests.get_user_id('alice'), a
from unnest(array['s@acme.com', 'o@acme.com', 'stop@acme.com', 'otop@acme.com']) as a;
do $$
begin
  insert into public.lead_score_ledger (user_id, lead_id, points, source, reason)
  select l.user_id, l.id, 99995, 'workflow', 'fixture' from public.leads as l where l.email like '_top@%';
  perform set_config('beacon.trusted_score_write', 'on', true);
  update public.leads set score = 99995 where email like '_top@%';
  perform set_config('beacon.trusted_score_write', '', true);
end;
$$;

do $$
begin
  perform tests.workflow('run', '{"type": "manual"}', '[
    {"type": "add_tag", "tag": "vip"},
    {"type": "adjust_score", "points": 10},
    {"type": "set_field", "key": "plan", "value": "pro"},
    {"type": "adjust_score", "points": -30}]');
  perform tests.workflow('watch score', '{"type": "lead_updated", "fields": ["score"]}',
    '[{"type": "condition", "conditions": {"statuses": ["lost"]}}]');
end;
$$;

insert into public.workflow_run_requests (user_id, workflow_id, lead_id)
select w.user_id, w.id, l.id
from public.workflows as w
join public.leads as l on l.user_id = w.user_id
where w.name = 'run';

create function tests.lead_writes()
returns bigint
language sql
as $$ select n_tup_upd from pg_stat_xact_user_tables where relid = 'public.leads'::regclass $$;
create table tests.writes (worker text, n bigint);

insert into tests.writes select 'before', tests.lead_writes();
select tests.run_one_by_one('o%');
insert into tests.writes select 'one at a time', tests.lead_writes();
select is(private.run_workflow_batch(10), 4,
  'one batch runs the two executions on s* leads (and the watchers the o* runs started, which write nothing)');
insert into tests.writes select 'set-based', tests.lead_writes();

select is(
  array(select w.n - lag(w.n) over (order by w.n) from tests.writes as w order by w.n offset 1),
  array[2::bigint, 2::bigint],
  'each worker writes each of its two leads once for the four steps');

create function tests.results(address text)
returns text
language sql
as $$
  select string_agg((r ->> 'step') || ':' || (r ->> 'status') || coalesce(' ' || (r ->> 'points') || '=' || (r ->> 'score'), ''),
                    ' ' order by x.n)
  from public.workflow_executions as e
  join public.workflows as w on w.id = e.workflow_id
  join public.leads as l on l.id = (e.trigger_data ->> 'lead_id')::uuid
  cross join jsonb_array_elements(e.step_results) with ordinality as x (r, n)
  where l.email = address and w.name = 'run'
$$;
create function tests.score(address text)
returns integer
language sql
as $$ select score from public.leads where email = address $$;
create function tests.ledger(address text)
returns text[]
language sql
as $$
  select array_agg(g.source || ' ' || g.points || coalesce(' cut ' || (g.details ->> 'score bound: kept within -100000 to 100000'), '')
                   order by g.source, g.points)
  from public.lead_score_ledger as g
  join public.leads as l on l.id = g.lead_id
  where l.email = address and g.reason <> 'fixture'
$$;
create function tests.sums(address text)
returns boolean
language sql
as $$
  select (select coalesce(sum(e.points), 0) from public.explain_lead_score(l.id) as e) = l.score
  from public.leads as l where l.email = address
$$;

select is(tests.results('s@acme.com'), '0:done 1:done 10=60 2:done 3:done -30=30',
  'the profile points count first: +50 for vip, then +10, then -30');
select is(tests.results('o@acme.com'), tests.results('s@acme.com'), 'one at a time gives the same results');
select is(array[tests.score('s@acme.com'), tests.score('o@acme.com')], array[30, 30], 'both leads end at 30');
select is(tests.ledger('s@acme.com'), array['rule 50', 'workflow -30', 'workflow 10'],
  'the rule''s points and each score step are ledgered');
select ok(tests.sums('s@acme.com') and tests.sums('o@acme.com'), 'explain_lead_score sums to the score');

select is(tests.results('stop@acme.com'), '0:done 1:unchanged 2:done 3:done -30=99970',
  'at the bound: the profile points stop at 100000, the +10 moves nothing, -30 counts from the bound');
select is(tests.results('otop@acme.com'), tests.results('stop@acme.com'), 'and the same one at a time');
select is(tests.ledger('stop@acme.com'), array['rule 5 cut -45', 'workflow -30'],
  'the rule''s row says what the bound cut off; the step that moved nothing has no row');
select is(tests.ledger('otop@acme.com'), tests.ledger('stop@acme.com'), 'the same ledger one at a time');
select ok(tests.sums('stop@acme.com') and tests.sums('otop@acme.com'), 'explain_lead_score sums to the score at the bound');

select is(tests.runs('watch score'), 4, 'a lead_updated workflow watching the score fires once per run');

select * from finish();
rollback;
