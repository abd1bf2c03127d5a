-- segment_entered / segment_exited workflows (migration segment_triggers): the trigger names
-- one of the owner's segments (path-naming errors otherwise); private.evaluate_segment_triggers
-- (the beacon-segment-triggers job) keeps each watched segment's membership, evaluates only the
-- leads changed since its watermark (or the whole segment when due), starts the watching
-- workflows of the leads that came or went, fires nothing when nothing changed, however often it
-- runs, isolates a segment that fails, and evaluates at most per_owner segments of each owner
-- per run, so that one owner's many segments delay nobody else's. Apps can neither read nor write its tables, and read
-- but not write a segment's evaluation_error.
begin;
\ir _helpers.psql

select plan(40);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

-- Segments and workflows of this test only: the demo's are the demo user's, and the job below
-- evaluates every watched segment.
create function tests.segment(owner text, name text, predicate jsonb)
returns uuid
language sql
as $$
  insert into public.segments (user_id, name, predicate) values (tests.get_user_id(owner), name, predicate)
  returning id
$$;
create function tests.members(segment uuid)
returns text[]
language sql
as $$
  select coalesce(array_agg(l.email order by l.email), '{}')
  from private.segment_members as m
  join public.leads as l on l.id = m.lead_id
  where m.segment_id = segment
$$;

select tests.segment('alice', 'VIPs', '{"tags": {"any": ["vip"]}}') as vips \gset
select tests.segment('mallory', 'Mallory''s', '{}') as mallorys \gset

-- ==== the trigger names one of the owner's segments ====
select tests.authenticate_as('alice');
select throws_ok($$insert into public.workflows (name, trigger_config, action_config)
  values ('w', '{"type": "segment_entered"}', '{"steps": []}')$$, '23514',
  'trigger_config.segment_id: expected the id of one of your segments, not (missing)',
  'a segment trigger needs a segment');
select throws_ok(format($$insert into public.workflows (name, trigger_config, action_config)
  values ('w', '{"type": "segment_exited", "segment_id": "%s"}', '{"steps": []}')$$, :'mallorys'), '23514',
  format('trigger_config.segment_id: expected the id of one of your segments, not "%s"', :'mallorys'),
  'another owner''s segment is refused like a missing one');
select throws_ok($$insert into public.workflows (name, trigger_config, action_config)
  values ('w', '{"type": "segment_entered", "segment_id": 7}', '{"steps": []}')$$, '23514',
  'trigger_config.segment_id: expected the id of one of your segments, not 7', 'an id is a string');
select throws_ok(format($$insert into public.workflows (name, trigger_config, action_config)
  values ('w', '{"type": "segment_entered", "segment_id": "%s", "tag": "x"}', '{"steps": []}')$$, :'vips'), '23514',
  'trigger_config.tag: unknown key; a segment_entered trigger takes segment_id, conditions', 'other keys are refused');
select throws_ok(format($$insert into public.workflows (name, trigger_config, action_config)
  values ('w', '{"type": "segment_entered", "segment_id": "%s", "conditions": {"min_score": 1.5}}', '{"steps": []}')$$,
  :'vips'), '23514', null, 'conditions are checked as for every trigger');
select tests.clear_authentication();

select tests.workflow('hello vip', jsonb_build_object('type', 'segment_entered', 'segment_id', :'vips'), owner => 'alice');
select tests.workflow('bye vip', jsonb_build_object('type', 'segment_exited', 'segment_id', :'vips'), owner => 'alice');
select tests.workflow('hello new vip', jsonb_build_object('type', 'segment_entered', 'segment_id', :'vips',
  'conditions', '{"statuses": ["new"]}'::jsonb), owner => 'alice');
select tests.workflow('mallory enters', jsonb_build_object('type', 'segment_entered', 'segment_id', :'mallorys'), owner => 'mallory');

insert into public.leads (user_id, email, tags, status) values
  (tests.get_user_id('alice'), 'ada@acme.com', '{vip}', 'new'),
  (tests.get_user_id('alice'), 'bob@acme.com', '{}', 'new'),
  (tests.get_user_id('alice'), 'cy@acme.com', '{}', 'qualified'),
  (tests.get_user_id('mallory'), 'm1@evil.example', '{}', 'new');

-- ==== the first evaluation is a baseline ====
select cmp_ok(private.evaluate_segment_triggers(), '>=', 2, 'the job evaluates both watched segments');
select is(tests.members(:'vips'), array['ada@acme.com'], 'alice''s segment holds its members');
select is(tests.started('alice') || tests.started('mallory'), '{}'::text[],
  'being in a segment when it starts being watched is not entering it');

-- ==== entering and leaving ====
update public.leads set tags = '{vip}' where email in ('bob@acme.com', 'cy@acme.com');
update public.leads set tags = '{}' where email = 'ada@acme.com';
select private.evaluate_segment_triggers();
select is(tests.started('alice'),
  array['bye vip ada@acme.com', 'hello new vip bob@acme.com', 'hello vip bob@acme.com', 'hello vip cy@acme.com'],
  'leads that came in start segment_entered, those that left segment_exited, trigger conditions checked');
select is(tests.members(:'vips'), array['bob@acme.com', 'cy@acme.com'], 'the membership follows');
select is(
  (select e.trigger_data - 'lead_id' from public.workflow_executions as e
   join public.workflows as w on w.id = e.workflow_id where w.name = 'bye vip'),
  jsonb_build_object('trigger', 'segment_exited', 'segment_id', :'vips'), 'trigger_data names the segment');
select is((select count(*)::integer from private.workflow_runs where user_id = tests.get_user_id('alice')), 4,
  'each execution has its run queued');

-- ==== nothing changed, nothing fires ====
select private.evaluate_segment_triggers();
select private.evaluate_segment_triggers();
select is(cardinality(tests.started('alice')), 4, 'running the job again starts nobody twice');
update public.leads set first_name = 'Bob' where email = 'bob@acme.com';
select private.evaluate_segment_triggers();
select is(cardinality(tests.started('alice')), 4, 'a change that keeps a lead in its segment fires nothing');

-- Later, with no lead changed since the watermark: the segment is not evaluated at all.
update private.segment_evaluations set leads_seen_at = now() + interval '1 hour' where segment_id = :'vips';
update private.segment_evaluations set leads_seen_at = now() + interval '1 hour', evaluated_whole_at = now()
where segment_id = :'mallorys';
select is(private.evaluate_segment_triggers(), 0, 'with no lead changed since, no segment is evaluated');
select is((select leads_seen_at > now() from private.segment_evaluations where segment_id = :'vips'), true,
  'and its watermark is left as it was');

-- A change the incremental evaluation did not see is caught by the next whole evaluation.
alter table public.leads disable trigger set_updated_at;
update public.leads set tags = '{vip}', updated_at = now() - interval '1 day' where email = 'ada@acme.com';
alter table public.leads enable trigger set_updated_at;
select private.evaluate_segment_triggers();
select is(cardinality(tests.started('alice')), 4, 'a change older than the watermark is not seen incrementally');
update private.segment_evaluations set evaluated_whole_at = now() - interval '2 days' where segment_id = :'vips';
select private.evaluate_segment_triggers();
select is(tests.members(:'vips'), array['ada@acme.com', 'bob@acme.com', 'cy@acme.com'],
  'the daily whole evaluation catches it');
select is(cardinality(tests.started('alice')), 6, 'and starts its workflows (ada: hello vip, hello new vip)');

-- ==== activity windows: segments reading events are evaluated whole every 10 minutes ====
select tests.segment('alice', 'Signed up', '{"events": [{"event_name": "signup", "within_days": 7}]}') as signed \gset
select tests.workflow('hello signup', jsonb_build_object('type', 'segment_entered', 'segment_id', :'signed'), owner => 'alice');
select private.evaluate_segment_triggers();
insert into public.analytics_events (user_id, event_type, event_name, properties)
values (tests.get_user_id('alice'), 'track', 'signup', jsonb_build_object('email', 'BOB@acme.com'));
update private.segment_evaluations set evaluated_whole_at = now() - interval '11 minutes', leads_seen_at = now() + interval '1 hour'
where segment_id = :'signed';
select private.evaluate_segment_triggers();
select is(tests.members(:'signed'), array['bob@acme.com'], 'an event puts its lead in at the next whole evaluation');
select is((select array_agg(l) from unnest(tests.started('alice')) as l where l like 'hello signup%'),
  array['hello signup bob@acme.com'], 'which starts segment_entered');

-- ==== a deleted lead leaves quietly ====
delete from public.leads where email = 'cy@acme.com';
select private.evaluate_segment_triggers();
select is(tests.members(:'vips'), array['ada@acme.com', 'bob@acme.com'], 'a deleted lead is no member');
select is((select count(*)::integer from unnest(tests.started('alice')) as l where l like 'bye vip%'), 1,
  'and starts no segment_exited');

-- ==== one segment's failure holds nobody up ====
-- A predicate that the grammar refuses on write, stored behind its back, fails at run time.
alter table public.segments disable trigger check_segment;
update public.segments set predicate = '{"statuses": "new"}' where id = :'mallorys';
alter table public.segments enable trigger check_segment;
update public.leads set tags = '{}' where email = 'bob@acme.com';
select lives_ok('select private.evaluate_segment_triggers()', 'the job runs through a failing segment');
select is(tests.members(:'vips'), array['ada@acme.com'], 'alice''s segment is evaluated');
select is((select count(*)::integer from unnest(tests.started('alice')) as l where l like 'bye vip%'), 2,
  'and her segment_exited starts');
select is((select evaluation_error is not null from public.segments where id = :'mallorys'), true,
  'mallory''s segment carries the reason');
select is((select error is not null and failed_at is not null from private.segment_evaluations where segment_id = :'mallorys'),
  true, 'so does its evaluation');
update private.segment_evaluations set error = 'as recorded' where segment_id = :'mallorys';
select private.evaluate_segment_triggers();
select is((select error from private.segment_evaluations where segment_id = :'mallorys'), 'as recorded',
  'a failed segment is not retried every minute');
update public.segments set predicate = '{}' where id = :'mallorys';
-- The failure, recorded in an earlier transaction than the owner's correction.
update private.segment_evaluations set failed_at = now() - interval '1 minute' where segment_id = :'mallorys';
select private.evaluate_segment_triggers();
select is((select evaluation_error from public.segments where id = :'mallorys'), null,
  'once the owner corrects it, the segment is evaluated again and the reason cleared');

-- ==== a segment no workflow watches is forgotten ====
update public.workflows set is_active = false where user_id = tests.get_user_id('mallory');
select private.evaluate_segment_triggers();
select is_empty(format('select from private.segment_evaluations where segment_id = %L', :'mallorys'),
  'an unwatched segment keeps no state');

-- ==== a deleted segment ====
delete from public.segments where id = :'signed';
select lives_ok('select private.evaluate_segment_triggers()', 'the job runs on when a watched segment is deleted');
select is_empty(format('select from private.segment_members where segment_id = %L', :'signed'),
  'its members are gone with it');

-- ==== each owner a share of the run ====
-- mallory watches three new segments, more than a run's share of two; alice's one new segment
-- is evaluated in the same run.
do $$
begin
  for n in 1..3 loop
    perform tests.workflow(format('hog %s', n), jsonb_build_object('type', 'segment_entered',
      'segment_id', tests.segment('mallory', format('Hog %s', n), '{}')), owner => 'mallory');
  end loop;
end;
$$;
select tests.segment('alice', 'Newcomers', '{"statuses": ["new"]}') as newcomers \gset
select tests.workflow('hello newcomer', jsonb_build_object('type', 'segment_entered', 'segment_id', :'newcomers'), owner => 'alice');
select throws_ok('select private.evaluate_segment_triggers(0)', '22023',
  'evaluate_segment_triggers: per_owner must be between 1 and 1000, not 0', 'a share of none is refused');
select private.evaluate_segment_triggers(per_owner => 2);
select is((select evaluated_whole_at is not null from private.segment_evaluations where segment_id = :'newcomers'), true,
  'alice''s new segment is evaluated in the run');
select is(
  (select count(*)::integer from private.segment_evaluations as e join public.segments as s on s.id = e.segment_id
   where s.name like 'Hog %' and e.evaluated_whole_at is not null),
  2, 'two of mallory''s three (her share), the third waits');
select private.evaluate_segment_triggers(per_owner => 2);
select is(
  (select count(*)::integer from private.segment_evaluations as e join public.segments as s on s.id = e.segment_id
   where s.name like 'Hog %' and e.evaluated_whole_at is not null),
  3, 'and is evaluated in the next run, the least recently evaluated first');

-- ==== apps ====
select tests.authenticate_as('alice');
select throws_ok('select * from private.segment_members', '42501', null, 'alice cannot read memberships');
select throws_ok('select * from private.segment_evaluations', '42501', null, 'nor evaluations');
select throws_ok($$update public.segments set evaluation_error = 'fine'$$, '42501', null,
  'nor write a segment''s evaluation_error (she may read it)');
select tests.clear_authentication();

select * from finish();
rollback;
