-- Workflow configs are validated by the database on write: a bad trigger_config or
-- action_config fails the insert (or update) with 23514 and a message naming the path of
-- the bad field, array entries counted from 0. The outline (an object with a type, an
-- object with a steps array) stays the check constraints'. A valid workflow of every
-- trigger type and every step type is accepted; active workflows with steps are compiled
-- for matching, inactive or empty ones are not.
begin;
\ir _helpers.psql

select plan(51);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
  -- send_email steps may name senders on her verified domain.
  perform tests.verify_sending_domain('alice', 'acme.com');
end;
$$;

create table tests.fixture as
select
  tests.insert_row('content', 'alice', '{"title": "Welcome", "content_type": "email", "content": "<p>Hi</p>"}') as content,
  tests.insert_row('content', 'mallory', '{"title": "Hers"}') as other_content,
  tests.insert_row('email_campaigns', 'alice') as email_campaign,
  tests.insert_row('email_campaigns', 'mallory') as other_email_campaign;

create function tests.rejected(trigger_config jsonb, action_config jsonb, message text, description text)
returns text
language sql
as $$
  select throws_ok(
    format($q$insert into public.workflows (user_id, name, trigger_config, action_config) values (%L, 'w', %L, %L)$q$,
      tests.get_user_id('alice'), trigger_config, action_config),
    '23514', message, description)
$$;
create function tests.bad_trigger(config jsonb, message text, description text)
returns text
language sql
as $$
  select tests.rejected(config, '{"steps": [{"type": "add_tag", "tag": "t"}]}', message, description)
$$;
create function tests.bad_step(step jsonb, message text, description text)
returns text
language sql
as $$
  select tests.rejected('{"type": "manual"}',
    jsonb_build_object('steps', jsonb_build_array('{"type": "add_tag", "tag": "a"}'::jsonb, '{"type": "remove_tag", "tag": "b"}'::jsonb, step)),
    message, description)
$$;

-- trigger_config ----------------------------------------------------------------------------

select tests.bad_trigger('{"type": "lead_deleted"}',
  'trigger_config.type: expected one of lead_created, lead_updated, lead_status_changed, lead_score_reached, tag_added, event, email_event, schedule, manual, segment_entered, segment_exited, not "lead_deleted"',
  'an unknown trigger type is named');
select tests.bad_trigger('{"type": "lead_created", "when": "now"}',
  'trigger_config.when: unknown key; a lead_created trigger takes conditions',
  'an unknown key is named with what the type takes');
select tests.bad_trigger('{"type": "lead_updated"}',
  'trigger_config.fields: expected a non-empty list of lead fields such as ["company", "status"], not (missing)',
  'lead_updated needs its fields');
select tests.bad_trigger('{"type": "lead_updated", "fields": ["company", "salary"]}',
  'trigger_config.fields[1]: "salary" is not a lead field (email, first_name, last_name, company, phone, score, status, source, tags, custom_fields, or custom_fields.<key>)',
  'lead_updated: an unknown field is named by its index');
select tests.bad_trigger('{"type": "lead_status_changed", "from": "new", "to": ["qualified", "won"]}',
  'trigger_config.to[1]: "won" is not a lead status or a list of them (new, qualified, contacted, converted, lost)',
  'lead_status_changed: an unknown status is named');
select tests.bad_trigger('{"type": "lead_score_reached", "score": "high"}',
  'trigger_config.score: expected the score to reach, a whole number from -100000 to 100000, not "high"',
  'lead_score_reached needs a whole number');
select tests.bad_trigger('{"type": "tag_added", "tag": ["vip"]}',
  'trigger_config.tag: expected a tag (1 to 100 characters), not ["vip"]',
  'tag_added: the tag is a string');
select tests.bad_trigger('{"type": "event"}',
  'trigger_config: an event trigger needs event_type, event_name or both',
  'event needs a type or a name');
select tests.bad_trigger('{"type": "event", "event_name": "signup", "properties": "plan=pro"}',
  'trigger_config.properties: expected an object the event''s properties must contain, such as {"plan": "pro"}, not "plan=pro"',
  'event: properties is an object');
select tests.bad_trigger('{"type": "event", "event_type": "page_view", "conditions": {"min_score": "ten"}}',
  'trigger_config.conditions.min_score: expected a whole number from -100000 to 100000, not "ten"',
  'event: a valid filter still has its conditions checked');
select tests.bad_trigger('{"type": "email_event", "event": "read"}',
  'trigger_config.event: expected opened, clicked, bounced or unsubscribed, not "read"',
  'email_event: the event is one of four');
select tests.bad_trigger(
  jsonb_build_object('type', 'email_event', 'event', 'opened', 'email_campaign_id', (select other_email_campaign from tests.fixture)),
  format('trigger_config.email_campaign_id: "%s" is not one of your email campaigns', (select other_email_campaign from tests.fixture)),
  'email_event: another user''s email campaign is refused');
select tests.bad_trigger('{"type": "email_event", "event": "bounced", "human_only": true}',
  'trigger_config.human_only: only opens and clicks can be told from machines',
  'email_event: human_only is for opens and clicks');
select tests.bad_trigger('{"type": "schedule", "cron": "0 25 * * *"}',
  'trigger_config.cron: hour field "25": 25 is out of range 0-23',
  'schedule: the cron expression''s bad field is named');
select tests.bad_trigger('{"type": "schedule", "cron": "every monday"}',
  'trigger_config.cron: expected 5 fields (minute hour day-of-month month day-of-week) or a macro such as @daily, not "every monday"',
  'schedule: a cron expression has five fields');
select tests.bad_trigger('{"type": "schedule", "cron": "0 9 * * mon", "timezone": "Europe/Atlantis"}',
  'trigger_config.timezone: "Europe/Atlantis" is not a time zone name such as "Europe/Paris"',
  'schedule: the time zone must exist');
select tests.bad_trigger('{"type": "lead_created", "conditions": {"statuses": ["new", "hot"]}}',
  'trigger_config.conditions.statuses[1]: "hot" is not a lead status (new, qualified, contacted, converted, lost)',
  'conditions: an unknown status is named');
select tests.bad_trigger('{"type": "lead_created", "conditions": {"min_score": 50, "max_score": 10}}',
  'trigger_config.conditions: min_score (50) is above max_score (10): no lead could match',
  'conditions: a range that matches nothing is refused');
select tests.bad_trigger('{"type": "lead_created", "conditions": {"tags": {"some": ["vip"]}}}',
  'trigger_config.conditions.tags.some: unknown key; tags take any, all and none',
  'conditions: tags take any, all and none');
select tests.bad_trigger('{"type": "lead_created", "conditions": {"custom_fields": [{"key": "plan", "op": "eq", "value": "pro"}, {"key": "seats", "op": "gte"}]}}',
  'trigger_config.conditions.custom_fields[1].value: gte needs a value to compare with',
  'conditions: a custom field comparison is named by its index');
select tests.bad_trigger('{"type": "lead_created", "conditions": []}',
  'trigger_config.conditions: expected an object such as {"statuses": ["new"], "min_score": 10}, not []',
  'conditions: an object');

-- action_config (the bad step is the third: steps[2]) ---------------------------------------

select tests.rejected('{"type": "manual"}', '{"steps": [], "then": []}',
  'action_config.then: unknown key; action_config takes only steps', 'action_config takes only steps');
select tests.bad_step('{"type": "call"}',
  'action_config.steps[2].type: expected one of set_status, add_tag, remove_tag, set_field, adjust_score, wait, condition, send_email, webhook, not "call"',
  'an unknown step type is named with its index');
select tests.bad_step('"add_tag"',
  'action_config.steps[2]: expected a step such as {"type": "add_tag", "tag": "hot"}, not "add_tag"',
  'a step is an object');
select tests.bad_step('{"type": "set_status", "status": "won"}',
  'action_config.steps[2].status: expected one of new, qualified, contacted, converted, lost, not "won"',
  'set_status: an unknown status');
select tests.bad_step('{"type": "add_tag", "tag": "hot", "color": "red"}',
  'action_config.steps[2].color: unknown key; an add_tag step takes tag',
  'add_tag: an unknown key');
select tests.bad_step('{"type": "remove_tag"}',
  'action_config.steps[2].tag: expected a tag (1 to 100 characters), not (missing)',
  'remove_tag needs its tag');
select tests.bad_step('{"type": "set_field", "key": "plan"}',
  'action_config.steps[2].value: expected the value to set (null removes the field)',
  'set_field needs a value');
select tests.bad_step('{"type": "adjust_score", "points": 0}',
  'action_config.steps[2].points: expected a whole number from -1000 to 1000 other than 0, not 0',
  'adjust_score: 0 points are refused');
select tests.bad_step('{"type": "wait", "duration": "a while"}',
  'action_config.steps[2].duration: expected a duration from 1 second to 365 days such as "2 days" or "PT6H", not "a while"',
  'wait: the duration must be a duration');
select tests.bad_step('{"type": "wait", "duration": "400 days"}',
  'action_config.steps[2].duration: expected a duration from 1 second to 365 days such as "2 days" or "PT6H", not "400 days"',
  'wait: at most 365 days');
select tests.bad_step('{"type": "wait", "until": "2020-01-01T00:00:00Z"}',
  'action_config.steps[2].until: "2020-01-01T00:00:00Z" is in the past',
  'wait: until must be in the future');
select tests.bad_step('{"type": "wait", "duration": "1 day", "until": "2099-01-01T00:00:00Z"}',
  'action_config.steps[2]: a wait step takes either duration (such as "2 days") or until (a time), not both or neither',
  'wait: a duration or a time, not both');
select tests.bad_step('{"type": "condition", "conditions": {"min_score": "ten"}}',
  'action_config.steps[2].conditions.min_score: expected a whole number from -100000 to 100000, not "ten"',
  'condition: its conditions are validated with their path');
select tests.bad_step('{"type": "condition", "conditions": {"min_score": 10}, "otherwise": "continue"}',
  'action_config.steps[2].otherwise: expected stop (end the execution) or skip (the next step), not "continue"',
  'condition: otherwise is stop or skip');
select tests.bad_step('{"type": "send_email", "subject": "Hi"}',
  'action_config.steps[2]: a send_email step needs content_id, or subject and body',
  'send_email needs content or a subject and body');
select tests.bad_step(jsonb_build_object('type', 'send_email', 'content_id', (select other_content from tests.fixture)),
  format('action_config.steps[2].content_id: "%s" is not one of your content items', (select other_content from tests.fixture)),
  'send_email: another user''s content is refused');
select tests.bad_step('{"type": "send_email", "subject": "Hi", "body": "Hello", "reply_to": "nobody"}',
  'action_config.steps[2].reply_to: "nobody" is not an email address',
  'send_email: addresses are checked');
select tests.bad_step('{"type": "webhook", "url": "http://hooks.example.com/in"}',
  'action_config.steps[2].url: expected an https:// URL (at most 2048 characters), not "http://hooks.example.com/in"',
  'webhook: https only');
select tests.bad_step('{"type": "webhook", "url": "https://hooks.example.com/in", "secret_name": "my secret"}',
  'action_config.steps[2].secret_name: expected the name of one of your secrets such as "WEBHOOK_SIGNING_SECRET", not "my secret"',
  'webhook: the secret is named like a user secret');
select tests.bad_step('{"type": "webhook", "url": "https://hooks.example.com/in", "headers": {"X-Beacon-Signature": "forged"}}',
  'action_config.steps[2].headers.X-Beacon-Signature: set by Beacon, not by the workflow',
  'webhook: Beacon''s own headers cannot be set');

-- The outline stays the check constraints'.
select tests.rejected('{"type": 7}', '{"steps": [{"type": "nonsense"}]}',
  'new row for relation "workflows" violates check constraint "workflows_trigger_config_check"',
  'a trigger_config without a string type breaks its check constraint, whatever the steps');
select tests.rejected('{"type": "nonsense"}', '{"steps": {}}',
  'new row for relation "workflows" violates check constraint "workflows_action_config_check"',
  'an action_config without a steps array breaks its check constraint');

-- Updates are validated too.
select throws_ok(
  format($q$update public.workflows set action_config = '{"steps": [{"type": "wait"}]}' where id = %L$q$,
    tests.insert_row('workflows', 'alice')),
  '23514',
  'action_config.steps[0]: a wait step takes either duration (such as "2 days") or until (a time), not both or neither',
  'an update with a bad step is refused');

-- Valid: every trigger type, and every step type ----------------------------------------------

select lives_ok(
  format($q$insert into public.workflows (user_id, name, trigger_config, action_config)
            select %L, 'every type ' || n, t, %L
            from jsonb_array_elements(%L) with ordinality as x (t, n)$q$,
    tests.get_user_id('alice'),
    jsonb_build_object('steps', jsonb_build_array(
      '{"type": "set_status", "status": "qualified"}'::jsonb,
      '{"type": "add_tag", "tag": "hot"}'::jsonb,
      '{"type": "remove_tag", "tag": "cold"}'::jsonb,
      '{"type": "set_field", "key": "plan", "value": {"tier": "pro"}}'::jsonb,
      '{"type": "set_field", "key": "trial", "value": null}'::jsonb,
      '{"type": "adjust_score", "points": -5}'::jsonb,
      '{"type": "wait", "duration": "P1DT2H"}'::jsonb,
      '{"type": "wait", "until": "2099-06-01T09:00:00+02:00"}'::jsonb,
      '{"type": "condition", "conditions": {"statuses": ["qualified"], "min_score": 10, "max_score": 100,
        "tags": {"any": ["hot"], "all": ["b2b"], "none": ["churned"]},
        "custom_fields": [{"key": "plan", "op": "exists"}]}, "otherwise": "skip"}'::jsonb,
      jsonb_build_object('type', 'send_email', 'content_id', (select content from tests.fixture), 'subject', 'Override'),
      '{"type": "send_email", "subject": "Hi {{first_name}}", "body": "<p>Hello</p>", "from_email": "me@acme.com",
        "from_name": "Me", "reply_to": "team@acme.com"}'::jsonb,
      '{"type": "webhook", "url": "https://hooks.example.com/in?src=beacon", "secret_name": "HOOK_SECRET",
        "payload": {"team": "growth"}, "headers": {"X-Team": "growth"}}'::jsonb)),
    jsonb_build_array(
      '{"type": "lead_created", "conditions": {"statuses": ["new"]}}'::jsonb,
      '{"type": "lead_updated", "fields": ["company", "custom_fields.plan"]}'::jsonb,
      '{"type": "lead_status_changed", "from": "new", "to": ["qualified", "contacted"]}'::jsonb,
      '{"type": "lead_score_reached", "score": 50}'::jsonb,
      '{"type": "tag_added", "tag": "vip"}'::jsonb,
      '{"type": "event", "event_type": "page_view", "properties": {"path": "/pricing"}}'::jsonb,
      jsonb_build_object('type', 'email_event', 'event', 'clicked', 'human_only', true,
        'email_campaign_id', (select email_campaign from tests.fixture)),
      '{"type": "schedule", "cron": "*/15 9-17 * * mon-fri", "timezone": "Europe/Paris"}'::jsonb,
      '{"type": "manual"}'::jsonb)),
  'a workflow of every trigger type, with every step type, is accepted');

select is(
  (select array_agg(t.type order by w.name) from public.workflows as w
   join private.workflow_triggers as t on t.workflow_id = w.id where w.name like 'every type %'),
  array['lead_created', 'lead_updated', 'lead_status_changed', 'lead_score_reached', 'tag_added', 'event', 'email_event',
        'schedule', 'manual'],
  'each active workflow is compiled for matching');
select is(
  (select t.from_statuses::text || ' ' || t.to_statuses::text from private.workflow_triggers as t
   join public.workflows as w on w.id = t.workflow_id where w.name = 'every type 3'),
  '{new} {qualified,contacted}', 'a status or a list of statuses compile to lists');
select is(
  (select (t.schedule -> 'minutes')::text || ' ' || (t.schedule -> 'weekdays')::text || ' ' || t.timezone
   from private.workflow_triggers as t join public.workflows as w on w.id = t.workflow_id where w.name = 'every type 8'),
  '[0, 15, 30, 45] [1, 2, 3, 4, 5] Europe/Paris', 'a schedule compiles its cron expression');

update public.workflows set is_active = false where name = 'every type 1';
select is_empty(
  $$select from private.workflow_triggers as t join public.workflows as w on w.id = t.workflow_id where w.name = 'every type 1'$$,
  'an inactive workflow is not matched against anything');
update public.workflows set is_active = true where name = 'every type 1';
update public.workflows set action_config = '{"steps": []}' where name = 'every type 1';
select is_empty(
  $$select from private.workflow_triggers as t join public.workflows as w on w.id = t.workflow_id where w.name = 'every type 1'$$,
  'nor is a workflow without steps');

-- Through the app, as alice; the same rule for everyone.
select tests.authenticate_as('alice');
select throws_ok(
  $$insert into public.workflows (name, trigger_config, action_config)
    values ('w', '{"type": "lead_created"}', '{"steps": [{"type": "add_tag"}]}')$$,
  '23514', 'action_config.steps[0].tag: expected a tag (1 to 100 characters), not (missing)',
  'alice''s app gets the same message');
select tests.clear_authentication();

select * from finish();
rollback;
