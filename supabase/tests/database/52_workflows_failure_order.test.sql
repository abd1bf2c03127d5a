-- A lead's runs keep their order when one of them runs alone (20261214100000_workflow_alone_by_lead):
-- the set-based worker runs a failing group's executions, and runs back from a webhook or
-- without their lead or workflow, one by one after its set-based pass; every other run of the
-- same lead in the batch now joins them, so the lead sees its runs in the worker's order, as
-- one by one. Before, a lead's later run could go first in the set-based pass, and a run that
-- fails one by one (a tag past the limit) then succeeded after it (the later run made room).
-- Both ways to run alone are covered: a failing group, and a run back from its webhook.
begin;
\ir _helpers.psql

select plan(10);

select tests.set_aside_queued_work();

do $$ begin perform tests.create_user('alice'); end; $$;

-- s* for the set-based worker, o* one by one: full at the tag limit (100, one of them x),
-- plain with room.
insert into public.leads (user_id, email, tags)
select tests.get_user_id('alice'), p || v.name || '@acme.com', v.tags
from unnest(array['s', 'o']) as p,
     (values ('full', (select array_agg('t' || n) from generate_series(1, 99) as n) || '{x}'::text[]),
             ('plain', '{x}'::text[])) as v (name, tags);

-- Per lead, in this order: one adds a tag (past the limit on full), one removes x, one marks
-- the lead.
do $$
begin
  perform tests.workflow('adds', steps => '[{"type": "add_tag", "tag": "a"}]');
  perform tests.workflow('removes', steps => '[{"type": "remove_tag", "tag": "x"}]');
  perform tests.workflow('marks', steps => '[{"type": "set_field", "key": "seen", "value": true}]');
end;
$$;
create table tests.started as
select * from tests.request_runs('alice', array['adds', 'removes', 'marks'], '%@acme.com');
update private.workflow_runs as r
set run_after = now() - case w.name when 'adds' then interval '3 minutes' when 'removes' then interval '2 minutes' else interval '1 minute' end
from public.workflows as w
where w.id = r.workflow_id
  and r.execution_id in (select s.execution_id from tests.started as s);

select is(tests.run_one_by_one('o%@acme.com'), 6, 'one by one runs the o* leads'' six runs');
select is(private.run_workflow_batch(1000), 6, 'one batch runs the s* leads'' six runs');

create function tests.outcomes(prefix text)
returns setof text
language sql
as $$
  select substr(l.email, 2) || ' ' || w.name || ' ' || e.status || coalesce(' | ' || e.error_message, '')
  from tests.started as s
  join public.workflow_executions as e on e.id = s.execution_id
  join public.workflows as w on w.id = s.workflow_id
  join public.leads as l on l.id = s.lead_id
  where l.email like prefix || '%@acme.com'
  order by l.email, w.name
$$;
create function tests.leads(prefix text)
returns setof text
language sql
as $$
  select substr(l.email, 2) || ' ' || cardinality(l.tags) || ' ' || ('a' = any (l.tags)) || ' ' || ('x' = any (l.tags))
    || ' ' || l.custom_fields::text
  from public.leads as l
  where l.email like prefix || '%@acme.com'
  order by l.email
$$;

select results_eq($$select * from tests.outcomes('s')$$, $$select * from tests.outcomes('o')$$,
  'every run ends as one by one ends it');
select is(
  (select string_agg(r, E'\n') from tests.outcomes('s') as r where r like 'full%'),
  E'full@acme.com adds failed | steps[0] (add_tag): new row for relation "leads" violates check constraint "leads_tags_check"\n'
  || E'full@acme.com marks completed\nfull@acme.com removes completed',
  'the run that adds past the limit fails, as it does before its lead''s later run makes room');
select results_eq($$select * from tests.leads('s')$$, $$select * from tests.leads('o')$$,
  'and each lead ends as one by one leaves it');

-- A run back from its webhook runs alone; its lead's later run goes with it. *hook leads are at
-- the tag limit: the run's step after the webhook adds a tag, the later run removes x.
insert into public.leads (user_id, email, tags)
select tests.get_user_id('alice'), p || 'hook@acme.com', (select array_agg('t' || n) from generate_series(1, 99) as n) || '{x}'::text[]
from unnest(array['s', 'o']) as p;
do $$
begin
  perform tests.workflow('hooks', steps => '[
    {"type": "webhook", "url": "https://hooks.example.com/in"},
    {"type": "add_tag", "tag": "a"}]');
  perform tests.workflow('unhooks', steps => '[{"type": "remove_tag", "tag": "x"}]');
end;
$$;
insert into tests.started select * from tests.request_runs('alice', array['hooks'], '_hook@acme.com');
select is(private.run_workflow_batch(1000), 2, 'both hooks runs reach their webhook and wait');
create table tests.claimed_hooks as select * from private.claim_webhooks('hook-worker', 100, '2 minutes');
select is(
  private.complete_webhooks('hook-worker', (
    select jsonb_agg(jsonb_build_object('webhook_id', h.webhook_id, 'outcome', 'sent'))
    from tests.claimed_hooks as h
    join private.webhook_queue as q on q.id = h.webhook_id
    where q.execution_id in (select s.execution_id from tests.started as s))) ->> 'sent',
  '2', 'their webhooks are sent');
insert into tests.started select * from tests.request_runs('alice', array['unhooks'], '_hook@acme.com');
update private.workflow_runs as r
set run_after = now() - case w.name when 'hooks' then interval '2 minutes' else interval '1 minute' end
from public.workflows as w
where w.id = r.workflow_id
  and r.execution_id in (select s.execution_id from tests.started as s);

select is(tests.run_one_by_one('ohook@acme.com') || ' ' || private.run_workflow_batch(1000), '2 2',
  'one by one and one batch each run a *hook lead''s two runs');
select results_eq(
  $$select * from tests.outcomes('s') as r where r like 'hook%'$$,
  $$select * from tests.outcomes('o') as r where r like 'hook%'$$,
  'the run back from its webhook fails as one by one fails it, before the later run');
select is(
  (select string_agg(r, E'\n') from tests.outcomes('s') as r where r like 'hook%'),
  E'hook@acme.com hooks failed | steps[1] (add_tag): new row for relation "leads" violates check constraint "leads_tags_check"\n'
  || 'hook@acme.com unhooks completed',
  'the step after the webhook adds past the limit; then x is removed');

select * from finish();
rollback;
