select cron.unschedule(jobid) from cron.job where jobname = 'beacon-segment-triggers';

drop function private.evaluate_segment_triggers();
drop function private.evaluate_segment(uuid);
drop function private.segment_change_overlap();
drop function private.segment_whole_interval(jsonb);
drop table private.segment_members;
drop table private.segment_evaluations;
drop index public.leads_user_id_updated_at_idx;
alter table public.segments drop column evaluation_error;

-- Workflows with segment triggers stay (they are the owner's rows) and no longer fire: the
-- restored matching knows no such trigger type. Editing one then asks for a known type.
alter table private.workflow_triggers drop column segment_id;

create or replace function private.workflow_trigger_problem(config jsonb, owner uuid)
returns text
language plpgsql
stable
set search_path = ''
as $_$
declare
  kind constant text := config ->> 'type';
  statuses constant text[] := array['new', 'qualified', 'contacted', 'converted', 'lost'];
  lead_fields constant text[] := array['email', 'first_name', 'last_name', 'company', 'phone', 'score', 'status',
    'source', 'tags', 'custom_fields'];
  allowed text[];
  key text;
  problem text;
  side text;
  gap integer;
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
    if private.jsonb_integer_problem(config -> 'score', 'trigger_config.score', -100000, 100000) is not null then
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
      gap := private.cron_min_interval_minutes(private.parse_cron(config ->> 'cron'));
    exception when invalid_parameter_value then
      return format('trigger_config.cron: %s', sqlerrm);
    end;
    if gap < private.min_schedule_interval_minutes() then
      return format('trigger_config.cron: %s fires %s minute(s) apart at its most frequent; a schedule fires at most '
        'every %s minutes (e.g. "*/%s * * * *")', config -> 'cron', gap, private.min_schedule_interval_minutes(),
        private.min_schedule_interval_minutes());
    end if;
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
$_$;

create or replace function private.compile_workflow_trigger(workflow public.workflows)
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
    private.jsonb_integer(c -> 'score'),
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

create or replace function private.sync_workflow_trigger()
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
