-- Workflows triggered by segment membership (issue 12): trigger_config
-- {"type": "segment_entered" | "segment_exited", "segment_id": <one of the owner's segments>}
-- starts an execution when a lead comes into, or leaves, a saved segment.
--
-- Membership is evaluated by the beacon-segment-triggers job, incrementally, and only for the
-- segments an active workflow watches:
--   - private.segment_members holds each watched segment's membership as last evaluated;
--     private.segment_evaluations its state: the predicate last evaluated whole, the watermark
--     on leads.updated_at (leads_seen_at), when it was last evaluated whole, and its failure;
--   - each minute, a segment is evaluated only over the owner's leads changed since its
--     watermark (less a two-minute overlap, for writes whose transaction began before the
--     previous run and committed after it): its predicate, compiled by
--     private.lead_conditions_sql, selects the members among them; the difference from the
--     stored membership (set-based: one insert ... on conflict, one delete) is who entered
--     and who left; private.start_workflow_executions starts the watching workflows for them
--     (their trigger conditions checked on the lead as it is now);
--   - a segment with no changed lead is not evaluated at all (an index on leads
--     (user_id, updated_at) finds the changed ones);
--   - a segment is evaluated whole (every lead of its owner): the first time it is watched (a
--     baseline: nobody fires for being in it already), when its predicate changed (whoever the
--     new predicate moves in or out fires), every 10 minutes when its predicate reads events or
--     emails (their windows move with time and new activity does not touch leads.updated_at),
--     and every day otherwise (a safety net for writes whose transaction outlived the overlap);
--   - each segment is evaluated in its own subtransaction, its row locked with skip locked: a
--     failure undoes that segment's work only, records the reason on its evaluation row and on
--     the segment (evaluation_error), and is retried when the owner edits the segment or after
--     the segment's whole-evaluation interval. Running twice, or late, starts nobody twice:
--     the stored membership is the memory of what already fired.
-- A deleted lead leaves its segments without firing segment_exited (there is no lead to run on).
-- A segment no active workflow watches is forgotten, membership and all.

alter table private.workflow_triggers add column segment_id uuid;
comment on column private.workflow_triggers.segment_id is
  'The segment a segment_entered or segment_exited trigger watches.';
create index workflow_triggers_segment_id_idx on private.workflow_triggers (segment_id) where segment_id is not null;

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
    when 'segment_entered' then array['segment_id']
    when 'segment_exited' then array['segment_id']
  end;
  if allowed is null then
    return format('trigger_config.type: expected one of lead_created, lead_updated, lead_status_changed, '
      'lead_score_reached, tag_added, event, email_event, schedule, manual, segment_entered, segment_exited, not %s', config -> 'type');
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
  when 'segment_entered', 'segment_exited' then
    if jsonb_typeof(config -> 'segment_id') is distinct from 'string' or not exists (
      select
      from public.segments as s
      where s.user_id = owner
        and s.id::text = lower(config ->> 'segment_id')
    ) then
      return format('trigger_config.segment_id: expected the id of one of your segments, not %s',
        coalesce(left((config -> 'segment_id')::text, 100), '(missing)'));
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
    null::timestamptz,
    (c ->> 'segment_id')::uuid
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
      schedule = excluded.schedule, timezone = excluded.timezone, segment_id = excluded.segment_id,
      -- A changed schedule counts from now: no firing for minutes already past.
      scheduled_since = case
        when (t.schedule, t.timezone) is not distinct from (excluded.schedule, excluded.timezone) then t.scheduled_since
        else excluded.scheduled_since
      end;
  return null;
end;
$$;

alter table public.segments add column evaluation_error text;
comment on column public.segments.evaluation_error is
  'Why the segment could not be evaluated for segment_entered/segment_exited workflows the last time (null when it could); set by the beacon-segment-triggers job.';

-- Finds the leads changed since a segment's watermark without reading the owner's others.
create index leads_user_id_updated_at_idx on public.leads (user_id, updated_at);

create table private.segment_evaluations (
  segment_id uuid primary key references public.segments (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  predicate jsonb,
  leads_seen_at timestamptz,
  evaluated_whole_at timestamptz,
  error text,
  failed_at timestamptz,
  constraint segment_evaluations_failed_check check ((error is null) = (failed_at is null))
);
comment on table private.segment_evaluations is
  'The state of each segment an active segment_entered/segment_exited workflow watches, kept by beacon-segment-triggers.';
comment on column private.segment_evaluations.predicate is 'The predicate the membership was last evaluated whole with.';
comment on column private.segment_evaluations.leads_seen_at is
  'Watermark: the job''s start time at the last evaluation; leads updated since (less an overlap) are evaluated next.';
comment on column private.segment_evaluations.evaluated_whole_at is
  'When every lead of the owner was last evaluated; null until the first (baseline) evaluation.';
comment on column private.segment_evaluations.error is 'Why the last evaluation failed (also on public.segments.evaluation_error).';
create index segment_evaluations_user_id_idx on private.segment_evaluations (user_id);
alter table private.segment_evaluations enable row level security;
revoke all on table private.segment_evaluations from public, anon, authenticated, service_role;

create table private.segment_members (
  segment_id uuid not null references private.segment_evaluations (segment_id) on delete cascade,
  lead_id uuid not null references public.leads (id) on delete cascade,
  entered_at timestamptz not null default now(),
  primary key (segment_id, lead_id)
);
comment on table private.segment_members is
  'The members of each watched segment as last evaluated: what segment_entered/segment_exited compare the segment''s predicate with.';
create index segment_members_lead_id_idx on private.segment_members (lead_id);
alter table private.segment_members enable row level security;
revoke all on table private.segment_members from public, anon, authenticated, service_role;

create function private.segment_whole_interval(predicate jsonb)
returns interval
language sql
immutable
set search_path = ''
as $$
  select case when predicate ? 'events' or predicate ? 'emails' then interval '10 minutes' else interval '1 day' end
$$;
comment on function private.segment_whole_interval(jsonb) is
  'How often a watched segment is evaluated over every lead: 10 minutes when its predicate reads events or emails (time windows, activity), a day otherwise.';
revoke all on function private.segment_whole_interval(jsonb) from public;

create function private.segment_change_overlap()
returns interval
language sql
immutable
set search_path = ''
as $$
  select interval '2 minutes'
$$;
comment on function private.segment_change_overlap() is
  'How far before its watermark a segment''s incremental evaluation looks: leads.updated_at is its writer''s start time, which may precede the previous evaluation although it committed after it.';
revoke all on function private.segment_change_overlap() from public;

create function private.evaluate_segment(segment_id uuid)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  segment public.segments;
  state private.segment_evaluations;
  whole boolean;
  scope text;
  entered uuid[];
  exited uuid[];
  workflow_ids uuid[];
  user_ids uuid[];
  lead_ids uuid[];
  trigger_data jsonb[];
  started integer := 0;
begin
  select e.* into state
  from private.segment_evaluations as e
  where e.segment_id = evaluate_segment.segment_id
  for update skip locked;
  select s.* into segment from public.segments as s where s.id = evaluate_segment.segment_id;
  if state.segment_id is null or segment.id is null then
    return null;
  end if;
  whole := state.evaluated_whole_at is null
    or state.predicate is distinct from segment.predicate
    or state.evaluated_whole_at <= now() - private.segment_whole_interval(segment.predicate);
  scope := case when whole then 'true'
    else format('l.updated_at >= %L::timestamptz', state.leads_seen_at - private.segment_change_overlap()) end;

  execute format($sql$
    with members_now as materialized (
      select l.id
      from public.leads as l
      where l.user_id = %1$L::uuid and %2$s and (%3$s)
    ),
    joined as (
      insert into private.segment_members (segment_id, lead_id)
      select %4$L::uuid, n.id
      from members_now as n
      on conflict do nothing
      returning lead_id
    ),
    gone as (
      delete from private.segment_members as m
      where m.segment_id = %4$L::uuid
        and not exists (select from members_now as n where n.id = m.lead_id)
        and exists (select from public.leads as l where l.id = m.lead_id and %2$s)
      returning m.lead_id
    )
    select array(select j.lead_id from joined as j), array(select g.lead_id from gone as g)
  $sql$, segment.user_id, scope,
    private.lead_conditions_sql(segment.predicate, 'l', format('%L::uuid', segment.user_id)), segment.id)
  into entered, exited;

  -- The first evaluation is a baseline: being in the segment already is not entering it.
  if state.evaluated_whole_at is not null then
    select
      array_agg(m.workflow_id order by m.lead_id, m.workflow_id),
      array_agg(m.user_id order by m.lead_id, m.workflow_id),
      array_agg(m.lead_id order by m.lead_id, m.workflow_id),
      array_agg(m.data order by m.lead_id, m.workflow_id)
    into workflow_ids, user_ids, lead_ids, trigger_data
    from (
      select
        t.workflow_id,
        t.user_id,
        l.id as lead_id,
        jsonb_build_object('trigger', t.type, 'lead_id', l.id, 'segment_id', t.segment_id) as data
      from (
        select e.id, 'segment_entered' as kind from unnest(entered) as e (id)
        union all
        select x.id, 'segment_exited' from unnest(exited) as x (id)
      ) as c
      join public.leads as l on l.id = c.id
      join private.workflow_triggers as t
        on t.segment_id = segment.id and t.user_id = segment.user_id and t.type = c.kind
      where t.conditions is null or private.lead_matches(l, t.conditions)
    ) as m;
    select count(*)::integer into started
    from private.start_workflow_executions(workflow_ids, user_ids, lead_ids, trigger_data);
  end if;

  update private.segment_evaluations as e
  set predicate = segment.predicate,
      leads_seen_at = now(),
      evaluated_whole_at = case when whole then now() else e.evaluated_whole_at end,
      error = null,
      failed_at = null
  where e.segment_id = segment.id;
  update public.segments as s
  set evaluation_error = null
  where s.id = segment.id and s.evaluation_error is not null;
  return started;
end;
$$;
comment on function private.evaluate_segment(uuid) is
  'Evaluates one watched segment (over the leads changed since its watermark, or whole when due), updates its membership set-based and starts the segment_entered/segment_exited workflows of the leads that came or went. Returns how many executions it started; null when the segment is not watched or another run holds it.';
revoke all on function private.evaluate_segment(uuid) from public;

create function private.evaluate_segment_triggers()
returns integer
language plpgsql
set search_path = ''
as $$
declare
  due uuid;
  evaluated integer := 0;
begin
  -- A segment no active workflow watches any more is forgotten; watched again, it starts
  -- from a new baseline.
  delete from private.segment_evaluations as e
  where not exists (
    select
    from private.workflow_triggers as t
    where t.segment_id = e.segment_id and t.type in ('segment_entered', 'segment_exited')
  );
  insert into private.segment_evaluations (segment_id, user_id)
  select distinct s.id, s.user_id
  from private.workflow_triggers as t
  join public.segments as s on s.id = t.segment_id and s.user_id = t.user_id
  where t.type in ('segment_entered', 'segment_exited')
  on conflict (segment_id) do nothing;

  for due in
    select e.segment_id
    from private.segment_evaluations as e
    join public.segments as s on s.id = e.segment_id
    where case
      when e.error is not null then
        s.updated_at > e.failed_at or e.failed_at <= now() - private.segment_whole_interval(s.predicate)
      else
        e.evaluated_whole_at is null
        or e.predicate is distinct from s.predicate
        or e.evaluated_whole_at <= now() - private.segment_whole_interval(s.predicate)
        or exists (
          select
          from public.leads as l
          where l.user_id = e.user_id
            and l.updated_at >= e.leads_seen_at - private.segment_change_overlap()
        )
    end
    order by e.leads_seen_at nulls first, e.segment_id
  loop
    begin
      if private.evaluate_segment(due) is not null then
        evaluated := evaluated + 1;
      end if;
    exception when others then
      update private.segment_evaluations as e
      set error = left(sqlerrm, 2000), failed_at = now()
      where e.segment_id = due;
      update public.segments as s
      set evaluation_error = left(sqlerrm, 2000)
      where s.id = due;
    end;
  end loop;
  return evaluated;
end;
$$;
comment on function private.evaluate_segment_triggers() is
  'The beacon-segment-triggers job: keeps one evaluation row per watched segment and evaluates those due (changed leads, whole-evaluation interval, new predicate), each in its own subtransaction; a failing segment records its reason and holds nobody up. Returns how many segments it evaluated.';
revoke all on function private.evaluate_segment_triggers() from public;

select cron.schedule(
  'beacon-segment-triggers',
  '* * * * *',
  'select private.evaluate_segment_triggers()'
);
