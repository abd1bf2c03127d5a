-- What the workflow validators accept, the runtime runs: whole numbers in workflow configs
-- (conditions' min_score and max_score, the lead_score_reached trigger's score, the
-- adjust_score step's points) are read by private.jsonb_integer and validated by
-- private.jsonb_integer_problem, so 5.0 and 5e0 are 5 everywhere, and 5.5 or "5" are
-- refused with the path named. A wait step's time must be finite, and a duration too long
-- to add is refused with the step's message.
begin;
\ir _helpers.psql

select plan(16);

do $$
begin
  perform tests.create_user('alice');
end;
$$;

create function tests.bad(trigger_config jsonb, steps jsonb, message text, description text)
returns text
language sql
as $$
  select throws_ok(tests.insert_sql('workflows', 'alice', jsonb_build_object(
    'trigger_config', trigger_config, 'action_config', jsonb_build_object('steps', steps))),
    '23514', message, description)
$$;

-- ==== accepted, and run ====
select lives_ok($$select tests.workflow('reached', '{"type": "lead_score_reached", "score": 10.0,
    "conditions": {"min_score": 5.0, "max_score": 1e3}}', '[{"type": "add_tag", "tag": "reached"}]')$$,
  'a trigger''s score and conditions'' bounds written as 10.0, 5.0 and 1e3 are accepted');
select lives_ok($$select tests.workflow('bonus', '{"type": "lead_created"}',
    '[{"type": "adjust_score", "points": 12.00}, {"type": "condition", "conditions": {"min_score": 12.0}},
      {"type": "add_tag", "tag": "bonus"}]')$$,
  'points written as 12.00 and a condition''s min_score as 12.0 are accepted');
select is((select score from private.workflow_triggers as t join public.workflows as w on w.id = t.workflow_id
           where w.name = 'reached'), 10, 'the compiled trigger reads the score as 10');

insert into public.leads (user_id, email) values (tests.get_user_id('alice'), 'ada@acme.com');
select tests.expand_lead_changes();
-- Two batches: the executions the lead's insert started, then the one its new score started.
select private.run_workflow_batch(1000) + private.run_workflow_batch(1000);
select is((select score || ' ' || array_to_string(tags, ',') from public.leads where email = 'ada@acme.com'),
  '12 bonus,reached',
  'the worker adds 12 points, the condition holds, and the score reaching 10 (with 5.0 <= score <= 1e3) fires the other workflow');
select is(
  (select array_agg(e.status order by w.name) from public.workflow_executions as e
   join public.workflows as w on w.id = e.workflow_id where w.user_id = tests.get_user_id('alice')),
  array['completed', 'completed'], 'both executions complete');

-- ==== refused, naming the path ====
select tests.bad('{"type": "lead_created", "conditions": {"min_score": 5.5}}', '[{"type": "add_tag", "tag": "x"}]',
  'trigger_config.conditions.min_score: expected a whole number from -100000 to 100000, not 5.5',
  'a fractional min_score is refused');
select tests.bad('{"type": "lead_created", "conditions": {"max_score": "5"}}', '[{"type": "add_tag", "tag": "x"}]',
  'trigger_config.conditions.max_score: expected a whole number from -100000 to 100000, not "5"',
  'a max_score written as a string is refused');
select tests.bad('{"type": "lead_created", "conditions": {"min_score": 10.0, "max_score": 5.0}}',
  '[{"type": "add_tag", "tag": "x"}]',
  'trigger_config.conditions: min_score (10.0) is above max_score (5.0): no lead could match',
  'bounds written as 10.0 and 5.0 are compared as numbers');
select tests.bad('{"type": "lead_score_reached", "score": 7.25}', '[{"type": "add_tag", "tag": "x"}]',
  'trigger_config.score: expected the score to reach, a whole number from -100000 to 100000, not 7.25',
  'a fractional score to reach is refused');
select tests.bad('{"type": "lead_score_reached", "score": 100001.0}', '[{"type": "add_tag", "tag": "x"}]',
  'trigger_config.score: expected the score to reach, a whole number from -100000 to 100000, not 100001.0',
  'a score past the column''s range is refused');
select tests.bad('{"type": "manual"}', '[{"type": "adjust_score", "points": 2.5}]',
  'action_config.steps[0].points: expected a whole number from -1000 to 1000 other than 0, not 2.5',
  'fractional points are refused');
select tests.bad('{"type": "manual"}', '[{"type": "adjust_score", "points": 0.0}]',
  'action_config.steps[0].points: expected a whole number from -1000 to 1000 other than 0, not 0.0',
  'zero points, however written, are refused');
select tests.bad('{"type": "manual"}', '[{"type": "condition", "conditions": {"min_score": 1e10}}]',
  'action_config.steps[0].conditions.min_score: expected a whole number from -100000 to 100000, not 10000000000',
  'a condition step''s bound past the range is refused');
select tests.bad('{"type": "manual"}', '[{"type": "wait", "until": "infinity"}]',
  'action_config.steps[0].until: expected a time such as "2030-01-01T09:00:00Z", not "infinity"',
  'a wait until infinity (which would never end) is refused');
select tests.bad('{"type": "manual"}', '[{"type": "wait", "duration": "290000 years"}]',
  'action_config.steps[0].duration: expected a duration from 1 second to 365 days such as "2 days" or "PT6H", not "290000 years"',
  'a duration too long to add to now is refused with the step''s message');

-- No `::integer` on user JSON is left in the workflow functions.
select is_empty(
  $$select p.proname from pg_proc as p join pg_namespace as n on n.oid = p.pronamespace
    where n.nspname = 'private'
      and p.proname in ('lead_conditions_problem', 'lead_matches', 'workflow_trigger_problem', 'workflow_steps_problem',
                        'compile_workflow_trigger', 'run_workflow_execution', 'fire_scheduled_workflows',
                        'claim_due_schedules', 'start_manual_run')
      and p.prosrc ~ '->>[^)]*\)::(integer|numeric)'$$,
  'the workflow functions read numbers from user JSON only through private.jsonb_integer');

select * from finish();
rollback;
