select cron.unschedule(jobid) from cron.job where jobname = 'beacon-lead-changes';

-- Rows still in the inbox (about the last second of inserts while the job ran) go with it:
-- a rollback changes no other table. To start their workflows first, run
-- `select private.expand_lead_changes(1000000)` before rolling back.

create or replace function private.match_inserted_lead_workflows()
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

drop function private.expand_lead_changes(integer);
drop function private.start_lead_change_workflows(bigint[]);
drop table private.lead_changes;
