-- Workflow triggers: after each statement that inserts or updates leads, inserts analytics
-- events or stamps email deliveries, one set-based query joins the changed rows with the
-- compiled triggers of their owners' active workflows (private.workflow_triggers, by
-- (user_id, type)) and starts an execution for every match: once per workflow per changed
-- row, never a loop over workflows. The app's statement only writes the executions; the
-- steps run later, in the worker. Conditions are checked against the lead as it is once
-- the statement is done (e.g. after qualification).
--
-- What each trigger type puts in trigger_data besides {"trigger": type, "lead_id"}:
--   lead_updated {"changed": [fields]}; lead_status_changed {"from", "to"};
--   lead_score_reached {"from_score"?, "score", "threshold"}; tag_added {"tags": [added]};
--   event {"event_id", "event_type", "event_name", "properties"};
--   email_event {"event", "delivery_id", "email_campaign_id"}.

-- The fields that differ between two versions of a lead (custom fields also one by one, as
-- custom_fields.<key>), for lead_updated triggers.
create function private.changed_lead_fields(old_lead public.leads, new_lead public.leads)
returns text[]
language plpgsql
immutable
set search_path = ''
as $$
begin
  return array_remove(array[
    case when new_lead.email is distinct from old_lead.email then 'email' end,
    case when new_lead.first_name is distinct from old_lead.first_name then 'first_name' end,
    case when new_lead.last_name is distinct from old_lead.last_name then 'last_name' end,
    case when new_lead.company is distinct from old_lead.company then 'company' end,
    case when new_lead.phone is distinct from old_lead.phone then 'phone' end,
    case when new_lead.score is distinct from old_lead.score then 'score' end,
    case when new_lead.status is distinct from old_lead.status then 'status' end,
    case when new_lead.source is distinct from old_lead.source then 'source' end,
    case when new_lead.tags is distinct from old_lead.tags then 'tags' end,
    case when new_lead.custom_fields is distinct from old_lead.custom_fields then 'custom_fields' end
  ], null)
  || case when new_lead.custom_fields is distinct from old_lead.custom_fields then array(
    select 'custom_fields.' || k
    from (
      select jsonb_object_keys(new_lead.custom_fields)
      union
      select jsonb_object_keys(old_lead.custom_fields)
    ) as keys (k)
    where new_lead.custom_fields -> k is distinct from old_lead.custom_fields -> k
    order by 1
  ) else '{}' end;
end;
$$;
comment on function private.changed_lead_fields(public.leads, public.leads) is
  'The fields that differ between two versions of a lead, custom fields also as custom_fields.<key>.';

-- Security definer (all four): apps write the rows that fire workflows, and may not write
-- executions.
create function private.match_inserted_lead_workflows()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not exists (
    select
    from private.workflow_triggers as t
    where t.user_id in (select n.user_id from new_leads as n)
      and t.type in ('lead_created', 'tag_added', 'lead_score_reached')
  ) then
    return null;
  end if;
  perform private.start_workflow_executions(
    array_agg(m.workflow_id), array_agg(m.user_id), array_agg(m.lead_id), array_agg(m.data))
  from (
    select
      t.workflow_id,
      l.user_id,
      l.id as lead_id,
      jsonb_build_object('trigger', t.type, 'lead_id', l.id) || case t.type
        when 'tag_added' then jsonb_build_object('tags', n.tags)
        when 'lead_score_reached' then jsonb_build_object('score', l.score, 'threshold', t.score)
        else '{}'
      end as data
    from new_leads as n
    join public.leads as l on l.id = n.id
    join private.workflow_triggers as t
      on t.user_id = n.user_id
     and t.type in ('lead_created', 'tag_added', 'lead_score_reached')
    where case t.type
        when 'lead_created' then true
        when 'tag_added' then t.tag = any (n.tags) or (t.tag is null and cardinality(n.tags) > 0)
        else l.score >= t.score
      end
      and (t.conditions is null or private.lead_matches(l, t.conditions))
  ) as m;
  return null;
end;
$$;
comment on function private.match_inserted_lead_workflows() is
  'Trigger (after insert on leads, per statement): starts lead_created, tag_added and lead_score_reached workflows.';

create function private.match_updated_lead_workflows()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not exists (
    select
    from private.workflow_triggers as t
    where t.user_id in (select n.user_id from new_leads as n)
      and t.type in ('lead_updated', 'lead_status_changed', 'lead_score_reached', 'tag_added')
  ) then
    return null;
  end if;
  perform private.start_workflow_executions(
    array_agg(m.workflow_id), array_agg(m.user_id), array_agg(m.lead_id), array_agg(m.data))
  from (
    select
      t.workflow_id,
      l.user_id,
      l.id as lead_id,
      jsonb_build_object('trigger', t.type, 'lead_id', l.id) || case t.type
        when 'lead_updated' then jsonb_build_object('changed', c.changed)
        when 'lead_status_changed' then jsonb_build_object('from', o.status, 'to', n.status)
        when 'lead_score_reached' then jsonb_build_object('from_score', o.score, 'score', n.score, 'threshold', t.score)
        else jsonb_build_object('tags', c.added)
      end as data
    from new_leads as n
    join old_leads as o on o.id = n.id
    join public.leads as l on l.id = n.id
    join private.workflow_triggers as t
      on t.user_id = n.user_id
     and t.type in ('lead_updated', 'lead_status_changed', 'lead_score_reached', 'tag_added')
    cross join lateral (
      select
        case when t.type = 'lead_updated' then private.changed_lead_fields(o, n) end as changed,
        case when t.type = 'tag_added' then array(select g from unnest(n.tags) as g where g <> all (o.tags)) end
          as added
    ) as c
    where case t.type
        when 'lead_updated' then t.fields && c.changed
        when 'lead_status_changed' then n.status <> o.status
          and (t.from_statuses is null or o.status = any (t.from_statuses))
          and (t.to_statuses is null or n.status = any (t.to_statuses))
        when 'lead_score_reached' then o.score < t.score and n.score >= t.score
        else t.tag = any (c.added) or (t.tag is null and cardinality(c.added) > 0)
      end
      and (t.conditions is null or private.lead_matches(l, t.conditions))
  ) as m;
  return null;
end;
$$;
comment on function private.match_updated_lead_workflows() is
  'Trigger (after update on leads, per statement): starts lead_updated, lead_status_changed, lead_score_reached and tag_added workflows.';

create function private.match_event_workflows()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not exists (
    select
    from private.workflow_triggers as t
    where t.user_id in (select e.user_id from new_events as e)
      and t.type = 'event'
  ) then
    return null;
  end if;
  perform private.start_workflow_executions(
    array_agg(m.workflow_id), array_agg(m.user_id), array_agg(m.lead_id), array_agg(m.data))
  from (
    select
      t.workflow_id,
      e.user_id,
      l.id as lead_id,
      jsonb_build_object('trigger', 'event', 'lead_id', l.id, 'event_id', e.id, 'event_type', e.event_type,
        'event_name', e.event_name, 'properties', e.properties) as data
    from new_events as e
    join private.workflow_triggers as t on t.user_id = e.user_id and t.type = 'event'
    cross join lateral (select private.event_lead_id(e.user_id, e.properties) as id) as about
    left join public.leads as l on l.id = about.id
    where (t.event_type is null or t.event_type = e.event_type)
      and (t.event_name is null or t.event_name = e.event_name)
      and (t.properties is null or e.properties @> t.properties)
      and (t.conditions is null or (l.id is not null and private.lead_matches(l, t.conditions)))
  ) as m;
  return null;
end;
$$;
comment on function private.match_event_workflows() is
  'Trigger (after insert on analytics_events, per statement): starts event workflows, on the lead the event names if any.';

create function private.match_email_event_workflows()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not exists (
    select
    from private.workflow_triggers as t
    where t.user_id in (select d.user_id from new_deliveries as d)
      and t.type = 'email_event'
  ) then
    return null;
  end if;
  perform private.start_workflow_executions(
    array_agg(m.workflow_id), array_agg(m.user_id), array_agg(m.lead_id), array_agg(m.data))
  from (
    select
      t.workflow_id,
      l.user_id,
      l.id as lead_id,
      jsonb_build_object('trigger', 'email_event', 'lead_id', l.id, 'event', t.email_event, 'delivery_id', n.id,
        'email_campaign_id', n.email_campaign_id) as data
    from new_deliveries as n
    join old_deliveries as o on o.id = n.id
    join public.leads as l on l.id = n.lead_id
    join private.workflow_triggers as t on t.user_id = n.user_id and t.type = 'email_event'
    where (t.email_campaign_id is null or t.email_campaign_id = n.email_campaign_id)
      and case t.email_event
        when 'opened' then case when t.human_only then o.human_opened_at is null and n.human_opened_at is not null
                                else o.opened_at is null and n.opened_at is not null end
        when 'clicked' then case when t.human_only then o.human_clicked_at is null and n.human_clicked_at is not null
                                 else o.clicked_at is null and n.clicked_at is not null end
        when 'bounced' then o.bounced_at is null and n.bounced_at is not null
        else o.unsubscribed_at is null and n.unsubscribed_at is not null
      end
      and (t.conditions is null or private.lead_matches(l, t.conditions))
  ) as m;
  return null;
end;
$$;
comment on function private.match_email_event_workflows() is
  'Trigger (after update on email_deliveries, per statement): starts email_event workflows when a delivery to a lead is first opened, clicked, bounced or unsubscribed.';

revoke all on function
  private.changed_lead_fields(public.leads, public.leads),
  private.match_inserted_lead_workflows(),
  private.match_updated_lead_workflows(),
  private.match_event_workflows(),
  private.match_email_event_workflows()
from public, anon, authenticated, service_role;

create trigger workflows_after_lead_insert
after insert on public.leads
referencing new table as new_leads
for each statement execute function private.match_inserted_lead_workflows();

create trigger workflows_after_lead_update
after update on public.leads
referencing old table as old_leads new table as new_leads
for each statement execute function private.match_updated_lead_workflows();

create trigger workflows_after_event
after insert on public.analytics_events
referencing new table as new_events
for each statement execute function private.match_event_workflows();

create trigger workflows_after_delivery_update
after update on public.email_deliveries
referencing old table as old_deliveries new table as new_deliveries
for each statement execute function private.match_email_event_workflows();
