-- What a workflow may say, checked on every write (a bad config fails the insert or update
-- with a message naming the path of the bad field, array entries counted from 0, e.g.
-- 'action_config.steps[2].duration: ...'), and the compiled form of the active workflows'
-- triggers that the matching triggers join against (private.workflow_triggers). Only an
-- active workflow with at least one step fires.
--
-- The grammar (every trigger type, lead condition and step) is documented, with examples the
-- tests run, in docs/workflows.md; later migrations refine it (see supabase/schema.sql).

create table private.workflow_triggers (
  workflow_id uuid primary key references public.workflows (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  type text not null,
  conditions jsonb,
  fields text[],
  from_statuses text[],
  to_statuses text[],
  score integer,
  tag text,
  event_type text,
  event_name text,
  properties jsonb,
  email_event text,
  email_campaign_id uuid,
  human_only boolean not null default false,
  schedule jsonb,
  timezone text,
  scheduled_since timestamptz,
  last_fired_at timestamptz
);
comment on table private.workflow_triggers is
  'The triggers of the active workflows that have steps, compiled from trigger_config; what lead, event and email changes are matched against.';
comment on column private.workflow_triggers.schedule is 'A schedule trigger''s cron expression, parsed (private.parse_cron).';
comment on column private.workflow_triggers.last_fired_at is 'The minute a schedule trigger last fired for.';
-- Matching: a user's triggers of a type.
create index workflow_triggers_user_id_type_idx on private.workflow_triggers (user_id, type);
-- The schedule tick: every schedule trigger.
create index workflow_triggers_schedule_idx on private.workflow_triggers (workflow_id) where type = 'schedule';
revoke all on table private.workflow_triggers from public, anon, authenticated, service_role;

create function private.workflow_trigger_problem(config jsonb, owner uuid)
returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  kind constant text := config ->> 'type';
  statuses constant text[] := array['new', 'qualified', 'contacted', 'converted', 'lost'];
  lead_fields constant text[] := array['email', 'first_name', 'last_name', 'company', 'phone', 'score', 'status',
    'source', 'tags', 'custom_fields'];
  allowed text[];
  key text;
  problem text;
  side text;
begin
  allowed := case kind
    when 'lead_created' then '{}'
    when 'lead_updated' then array['fields']
    when 'lead_status_changed' then array['from', 'to']
    when 'lead_score_reached' then array['score']
    when 'tag_added' then array['tag']
    when 'event' then array['event_type', 'event_name', 'properties']
    when 'email_event' then array['event', 'email_campaign_id', 'human_only']
    when 'schedule' then array['cron', 'timezone']
    when 'manual' then '{}'
  end;
  if allowed is null then
    return format('trigger_config.type: expected one of lead_created, lead_updated, lead_status_changed, '
      'lead_score_reached, tag_added, event, email_event, schedule, manual, not %s', config -> 'type');
  end if;
  key := private.unknown_key(config, array['type', 'conditions'] || allowed);
  if key is not null then
    return format('trigger_config.%s: unknown key; %s %s trigger takes %s', key,
      case when kind ~ '^[aeiou]' then 'an' else 'a' end, kind,
      array_to_string(allowed || array['conditions'], ', '));
  end if;

  case kind
  when 'lead_updated' then
    if jsonb_typeof(config -> 'fields') is distinct from 'array' or jsonb_array_length(config -> 'fields') = 0 then
      return format('trigger_config.fields: expected a non-empty list of lead fields such as ["company", "status"], not %s',
        coalesce(left((config -> 'fields')::text, 100), '(missing)'));
    end if;
    select format('trigger_config.fields[%s]: %s is not a lead field (%s, or custom_fields.<key>)',
      f.n - 1, f.v, array_to_string(lead_fields, ', '))
    into problem
    from jsonb_array_elements(config -> 'fields') with ordinality as f (v, n)
    where jsonb_typeof(f.v) <> 'string'
       or (f.v #>> '{}' <> all (lead_fields) and f.v #>> '{}' !~ '^custom_fields\..{1,100}$')
    order by f.n
    limit 1;
  when 'lead_status_changed' then
    foreach side in array array['from', 'to'] loop
      if config ? side then
        select format('trigger_config.%s: %s is not a lead status or a list of them (%s)',
          side || case when jsonb_typeof(config -> side) = 'array' then format('[%s]', s.n - 1) else '' end,
          s.v, array_to_string(statuses, ', '))
        into problem
        from jsonb_array_elements(case when jsonb_typeof(config -> side) = 'array' then config -> side
                                       else jsonb_build_array(config -> side) end) with ordinality as s (v, n)
        where jsonb_typeof(s.v) <> 'string' or s.v #>> '{}' <> all (statuses)
        order by s.n
        limit 1;
        if problem is null and config -> side = '[]' then
          problem := format('trigger_config.%s: expected a status or a non-empty list of statuses, not []', side);
        end if;
        exit when problem is not null;
      end if;
    end loop;
  when 'lead_score_reached' then
    if jsonb_typeof(config -> 'score') is distinct from 'number' or (config ->> 'score')::numeric % 1 <> 0
       or (config ->> 'score')::numeric not between -100000 and 100000 then
      return format('trigger_config.score: expected the score to reach, a whole number from -100000 to 100000, not %s',
        coalesce((config -> 'score')::text, '(missing)'));
    end if;
  when 'tag_added' then
    if config ? 'tag' and (jsonb_typeof(config -> 'tag') <> 'string' or length(config ->> 'tag') not between 1 and 100) then
      return format('trigger_config.tag: expected a tag (1 to 100 characters), not %s', left((config -> 'tag')::text, 100));
    end if;
  when 'event' then
    problem := private.event_filter_problem('trigger_config', config, 'an event trigger');
  when 'email_event' then
    if jsonb_typeof(config -> 'event') is distinct from 'string'
       or config ->> 'event' not in ('opened', 'clicked', 'bounced', 'unsubscribed') then
      return format('trigger_config.event: expected opened, clicked, bounced or unsubscribed, not %s',
        coalesce((config -> 'event')::text, '(missing)'));
    end if;
    if config ? 'email_campaign_id' and not exists (
      select
      from public.email_campaigns as c
      where c.user_id = owner
        and c.id::text = lower(config ->> 'email_campaign_id')
        and jsonb_typeof(config -> 'email_campaign_id') = 'string'
    ) then
      return format('trigger_config.email_campaign_id: %s is not one of your email campaigns',
        config -> 'email_campaign_id');
    end if;
    if config ? 'human_only' then
      if jsonb_typeof(config -> 'human_only') <> 'boolean' then
        return format('trigger_config.human_only: expected true or false, not %s', config -> 'human_only');
      end if;
      if config ->> 'event' not in ('opened', 'clicked') then
        return 'trigger_config.human_only: only opens and clicks can be told from machines';
      end if;
    end if;
  when 'schedule' then
    if jsonb_typeof(config -> 'cron') is distinct from 'string' then
      return format('trigger_config.cron: expected a cron expression such as "0 9 * * 1", not %s',
        coalesce((config -> 'cron')::text, '(missing)'));
    end if;
    begin
      perform private.parse_cron(config ->> 'cron');
    exception when invalid_parameter_value then
      return format('trigger_config.cron: %s', sqlerrm);
    end;
    if config ? 'timezone' and (jsonb_typeof(config -> 'timezone') <> 'string'
       or not exists (select from pg_catalog.pg_timezone_names as z where z.name = config ->> 'timezone')) then
      return format('trigger_config.timezone: %s is not a time zone name such as "Europe/Paris"', config -> 'timezone');
    end if;
  else
    null;
  end case;
  if problem is not null then
    return problem;
  end if;

  if config ? 'conditions' then
    return private.lead_conditions_problem('trigger_config.conditions', config -> 'conditions');
  end if;
  return null;
end;
$$;
comment on function private.workflow_trigger_problem(jsonb, uuid) is
  'What is wrong with a workflow''s trigger_config (as "trigger_config.<path>: <problem>"), or null if it is valid.';

create function private.workflow_steps_problem(config jsonb, owner uuid)
returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  statuses constant text[] := array['new', 'qualified', 'contacted', 'converted', 'lost'];
  email_pattern constant text := '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$';
  reserved_headers constant text[] := array['host', 'content-type', 'content-length', 'connection',
    'transfer-encoding', 'idempotency-key'];
  step jsonb;
  i integer := -1;
  at text;
  kind text;
  allowed text[];
  key text;
  problem text;
  duration interval;
  until_time timestamptz;
begin
  key := private.unknown_key(config, array['steps']);
  if key is not null then
    return format('action_config.%s: unknown key; action_config takes only steps', key);
  end if;
  if jsonb_array_length(config -> 'steps') > 50 then
    return format('action_config.steps: at most 50 steps, not %s', jsonb_array_length(config -> 'steps'));
  end if;

  for step in select s from jsonb_array_elements(config -> 'steps') as s loop
    i := i + 1;
    at := format('action_config.steps[%s]', i);
    if jsonb_typeof(step) <> 'object' then
      return format('%s: expected a step such as {"type": "add_tag", "tag": "hot"}, not %s', at, left(step::text, 100));
    end if;
    kind := step ->> 'type';
    allowed := case kind
      when 'set_status' then array['status']
      when 'add_tag' then array['tag']
      when 'remove_tag' then array['tag']
      when 'set_field' then array['key', 'value']
      when 'adjust_score' then array['points']
      when 'wait' then array['duration', 'until']
      when 'condition' then array['conditions', 'otherwise']
      when 'send_email' then array['content_id', 'subject', 'body', 'from_email', 'from_name', 'reply_to']
      when 'webhook' then array['url', 'secret_name', 'payload', 'headers']
    end;
    if jsonb_typeof(step -> 'type') is distinct from 'string' or allowed is null then
      return format('%s.type: expected one of set_status, add_tag, remove_tag, set_field, adjust_score, wait, '
        'condition, send_email, webhook, not %s', at, coalesce((step -> 'type')::text, '(missing)'));
    end if;
    key := private.unknown_key(step, array['type'] || allowed);
    if key is not null then
      return format('%s.%s: unknown key; %s %s step takes %s', at, key,
        case when kind ~ '^[aeiou]' then 'an' else 'a' end, kind, array_to_string(allowed, ', '));
    end if;

    case kind
    when 'set_status' then
      if jsonb_typeof(step -> 'status') is distinct from 'string' or step ->> 'status' <> all (statuses) then
        return format('%s.status: expected one of %s, not %s', at, array_to_string(statuses, ', '),
          coalesce((step -> 'status')::text, '(missing)'));
      end if;
    when 'add_tag', 'remove_tag' then
      if jsonb_typeof(step -> 'tag') is distinct from 'string' or length(step ->> 'tag') not between 1 and 100 then
        return format('%s.tag: expected a tag (1 to 100 characters), not %s', at,
          coalesce(left((step -> 'tag')::text, 100), '(missing)'));
      end if;
    when 'set_field' then
      if jsonb_typeof(step -> 'key') is distinct from 'string' or btrim(step ->> 'key') = ''
         or length(step ->> 'key') > 100 then
        return format('%s.key: expected the name of a custom field (1 to 100 characters), not %s', at,
          coalesce(left((step -> 'key')::text, 100), '(missing)'));
      end if;
      if not step ? 'value' then
        return format('%s.value: expected the value to set (null removes the field)', at);
      end if;
      if length((step -> 'value')::text) > 10000 then
        return format('%s.value: at most 10000 characters of JSON', at);
      end if;
    when 'adjust_score' then
      if jsonb_typeof(step -> 'points') is distinct from 'number' or (step ->> 'points')::numeric % 1 <> 0
         or (step ->> 'points')::numeric not between -1000 and 1000 or (step ->> 'points')::numeric = 0 then
        return format('%s.points: expected a whole number from -1000 to 1000 other than 0, not %s', at,
          coalesce((step -> 'points')::text, '(missing)'));
      end if;
    when 'wait' then
      if (step ? 'duration') = (step ? 'until') then
        return format('%s: a wait step takes either duration (such as "2 days") or until (a time), not both or neither', at);
      end if;
      if step ? 'duration' then
        begin
          duration := (step ->> 'duration')::interval;
        exception when others then
          duration := null;
        end;
        if jsonb_typeof(step -> 'duration') <> 'string' or duration is null
           or now() + duration <= now() or now() + duration > now() + interval '365 days' then
          return format('%s.duration: expected a duration from 1 second to 365 days such as "2 days" or "PT6H", not %s',
            at, left((step -> 'duration')::text, 100));
        end if;
      else
        begin
          until_time := (step ->> 'until')::timestamptz;
        exception when others then
          until_time := null;
        end;
        if jsonb_typeof(step -> 'until') <> 'string' or until_time is null then
          return format('%s.until: expected a time such as "2030-01-01T09:00:00Z", not %s',
            at, left((step -> 'until')::text, 100));
        end if;
        if until_time <= now() then
          return format('%s.until: %s is in the past', at, step -> 'until');
        end if;
      end if;
    when 'condition' then
      if not step ? 'conditions' then
        return format('%s.conditions: expected the conditions the lead must meet, such as {"min_score": 50}', at);
      end if;
      problem := private.lead_conditions_problem(at || '.conditions', step -> 'conditions');
      if problem is not null then
        return problem;
      end if;
      if step ? 'otherwise' and (jsonb_typeof(step -> 'otherwise') <> 'string'
         or step ->> 'otherwise' not in ('stop', 'skip')) then
        return format('%s.otherwise: expected stop (end the execution) or skip (the next step), not %s',
          at, step -> 'otherwise');
      end if;
    when 'send_email' then
      if step ? 'content_id' then
        if jsonb_typeof(step -> 'content_id') <> 'string' or not exists (
          select from public.content as c where c.user_id = owner and c.id::text = lower(step ->> 'content_id')
        ) then
          return format('%s.content_id: %s is not one of your content items', at, step -> 'content_id');
        end if;
      elsif not (step ? 'subject' and step ? 'body') then
        return format('%s: a send_email step needs content_id, or subject and body', at);
      end if;
      if step ? 'subject' and (jsonb_typeof(step -> 'subject') <> 'string' or btrim(step ->> 'subject') = ''
         or length(step ->> 'subject') > 998) then
        return format('%s.subject: expected a subject (1 to 998 characters), not %s', at, left((step -> 'subject')::text, 100));
      end if;
      if step ? 'body' and (jsonb_typeof(step -> 'body') <> 'string' or length(step ->> 'body') > 1000000) then
        return format('%s.body: expected the message (at most 1,000,000 characters), not %s', at, left((step -> 'body')::text, 100));
      end if;
      select format('%s.%s: %s is not an email address', at, f, step -> f)
      into problem
      from unnest(array['from_email', 'reply_to']) as f
      where step ? f and (jsonb_typeof(step -> f) <> 'string' or step ->> f !~ email_pattern or length(step ->> f) > 320)
      order by f
      limit 1;
      if problem is not null then
        return problem;
      end if;
      if step ? 'from_name' and (jsonb_typeof(step -> 'from_name') <> 'string' or btrim(step ->> 'from_name') = ''
         or length(step ->> 'from_name') > 200 or step ->> 'from_name' ~ '[[:cntrl:]]') then
        return format('%s.from_name: expected a sender name (1 to 200 characters, one line), not %s',
          at, left((step -> 'from_name')::text, 100));
      end if;
    when 'webhook' then
      if jsonb_typeof(step -> 'url') is distinct from 'string' or step ->> 'url' !~ '^https://[^[:space:]/?#@]+(/[^[:space:]]*)?$'
         or length(step ->> 'url') > 2048 then
        return format('%s.url: expected an https:// URL (at most 2048 characters), not %s', at,
          coalesce(left((step -> 'url')::text, 100), '(missing)'));
      end if;
      if step ? 'secret_name' and (jsonb_typeof(step -> 'secret_name') <> 'string'
         or step ->> 'secret_name' !~ '^[A-Z][A-Z0-9_]{0,63}$') then
        return format('%s.secret_name: expected the name of one of your secrets such as "WEBHOOK_SIGNING_SECRET", not %s',
          at, left((step -> 'secret_name')::text, 100));
      end if;
      if step ? 'payload' and (jsonb_typeof(step -> 'payload') <> 'object' or length((step -> 'payload')::text) > 100000) then
        return format('%s.payload: expected an object (at most 100,000 characters of JSON), not %s',
          at, left((step -> 'payload')::text, 100));
      end if;
      if step ? 'headers' then
        if jsonb_typeof(step -> 'headers') <> 'object' or (select count(*) from jsonb_object_keys(step -> 'headers')) > 20 then
          return format('%s.headers: expected an object of at most 20 headers such as {"X-Team": "growth"}, not %s',
            at, left((step -> 'headers')::text, 100));
        end if;
        select format('%s.headers.%s: %s', at, h.key, case
          when h.key !~ '^[A-Za-z0-9-]{1,100}$' then 'not a header name'
          when lower(h.key) = any (reserved_headers) or lower(h.key) like 'x-beacon-%' then 'set by Beacon, not by the workflow'
          else 'expected a string of at most 1000 characters, on one line'
        end)
        into problem
        from jsonb_each(step -> 'headers') as h
        where h.key !~ '^[A-Za-z0-9-]{1,100}$'
           or lower(h.key) = any (reserved_headers) or lower(h.key) like 'x-beacon-%'
           or jsonb_typeof(h.value) <> 'string' or length(h.value #>> '{}') > 1000 or h.value #>> '{}' ~ '[[:cntrl:]]'
        order by h.key
        limit 1;
        if problem is not null then
          return problem;
        end if;
      end if;
    end case;
  end loop;
  return null;
end;
$$;
comment on function private.workflow_steps_problem(jsonb, uuid) is
  'What is wrong with a workflow''s action_config (as "action_config.steps[i].<key>: <problem>"), or null if it is valid.';

-- Security definer: apps write workflows, and may not call into the private schema.
create function private.check_workflow_config()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  problem text;
begin
  -- The outline (an object with a string type; an object with a steps array) is left to
  -- workflows_trigger_config_check and workflows_action_config_check, which name it.
  if jsonb_typeof(new.trigger_config -> 'type') is distinct from 'string'
     or jsonb_typeof(new.action_config -> 'steps') is distinct from 'array' then
    return new;
  end if;
  problem := coalesce(
    private.workflow_trigger_problem(new.trigger_config, new.user_id),
    private.workflow_steps_problem(new.action_config, new.user_id));
  if problem is not null then
    raise exception using
      errcode = 'check_violation',
      message = problem,
      hint = 'See the comment on the workflow_config migration (or trigger_config and action_config in the docs) for what a workflow may say.';
  end if;
  return new;
end;
$$;
comment on function private.check_workflow_config() is
  'Trigger: rejects a workflow whose trigger_config or action_config is malformed, naming the path of the bad field.';

create trigger check_config
before insert or update of trigger_config, action_config, user_id on public.workflows
for each row execute function private.check_workflow_config();

-- A (valid) trigger_config compiled for matching.
create function private.compile_workflow_trigger(workflow public.workflows)
returns private.workflow_triggers
language sql
stable
set search_path = ''
as $$
  select
    workflow.id,
    workflow.user_id,
    c ->> 'type',
    c -> 'conditions',
    case when c ? 'fields' then array(select jsonb_array_elements_text(c -> 'fields')) end,
    case when c ? 'from' then array(select jsonb_array_elements_text(
      case when jsonb_typeof(c -> 'from') = 'array' then c -> 'from' else jsonb_build_array(c -> 'from') end)) end,
    case when c ? 'to' then array(select jsonb_array_elements_text(
      case when jsonb_typeof(c -> 'to') = 'array' then c -> 'to' else jsonb_build_array(c -> 'to') end)) end,
    (c ->> 'score')::integer,
    c ->> 'tag',
    c ->> 'event_type',
    c ->> 'event_name',
    c -> 'properties',
    c ->> 'event',
    (c ->> 'email_campaign_id')::uuid,
    coalesce((c ->> 'human_only')::boolean, false),
    case when c ->> 'type' = 'schedule' then private.parse_cron(c ->> 'cron') end,
    case when c ->> 'type' = 'schedule' then coalesce(c ->> 'timezone', 'UTC') end,
    case when c ->> 'type' = 'schedule' then now() end,
    null::timestamptz
  from (select workflow.trigger_config as c) as config
$$;
comment on function private.compile_workflow_trigger(public.workflows) is
  'A workflow''s (valid) trigger_config as a row of private.workflow_triggers.';

-- Keeps private.workflow_triggers in step: the compiled trigger of each active workflow.
create function private.sync_workflow_trigger()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- Without steps there is nothing to run: such a workflow never fires.
  if not new.is_active or jsonb_array_length(new.action_config -> 'steps') = 0 then
    delete from private.workflow_triggers as t where t.workflow_id = new.id;
    return null;
  end if;
  insert into private.workflow_triggers as t
  select c.*
  from private.compile_workflow_trigger(new) as c
  on conflict (workflow_id) do update
  set user_id = excluded.user_id, type = excluded.type, conditions = excluded.conditions, fields = excluded.fields,
      from_statuses = excluded.from_statuses, to_statuses = excluded.to_statuses, score = excluded.score,
      tag = excluded.tag, event_type = excluded.event_type, event_name = excluded.event_name,
      properties = excluded.properties, email_event = excluded.email_event,
      email_campaign_id = excluded.email_campaign_id, human_only = excluded.human_only,
      schedule = excluded.schedule, timezone = excluded.timezone,
      -- A changed schedule counts from now: no firing for minutes already past.
      scheduled_since = case
        when (t.schedule, t.timezone) is not distinct from (excluded.schedule, excluded.timezone) then t.scheduled_since
        else excluded.scheduled_since
      end;
  return null;
end;
$$;
comment on function private.sync_workflow_trigger() is
  'Trigger: compiles the trigger_config of an active workflow with steps into private.workflow_triggers; removes it otherwise.';

create trigger sync_trigger
after insert or update of trigger_config, action_config, is_active, user_id on public.workflows
for each row execute function private.sync_workflow_trigger();

-- The workflows that exist already: those whose trigger_config is valid start matching.
insert into private.workflow_triggers
select c.*
from public.workflows as w
cross join lateral private.compile_workflow_trigger(w) as c
where w.is_active
  and jsonb_array_length(w.action_config -> 'steps') > 0
  and jsonb_typeof(w.trigger_config -> 'type') = 'string'
  and private.workflow_trigger_problem(w.trigger_config, w.user_id) is null;

revoke all on function
  private.workflow_trigger_problem(jsonb, uuid),
  private.workflow_steps_problem(jsonb, uuid),
  private.check_workflow_config(),
  private.compile_workflow_trigger(public.workflows),
  private.sync_workflow_trigger()
from public, anon, authenticated, service_role;
