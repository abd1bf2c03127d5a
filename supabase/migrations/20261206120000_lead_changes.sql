-- Lead inserts no longer start their workflows inside the insert. Starting 20 matching
-- workflows wrote 40 rows (executions and runs, each with its own triggers) in the app's
-- transaction and made a lead insert 2–5× slower than one without workflows. Now the insert
-- records one row per statement and owner in private.lead_changes (the inserted leads as
-- they stood after the statement, the running workflow chain), and the beacon-lead-changes
-- job expands those rows set-based into executions, within about a second.
--
-- What stays exact:
--   - matching sees each lead as it stood right after its insert (the snapshot), not as it
--     stands when the job runs; a lead deleted meanwhile starts nothing;
--   - the chain a row was recorded under is restored while it is expanded, so loop and depth
--     protection (private.start_workflow_executions) apply as before;
--   - rows are expanded oldest first; each is claimed with skip locked and deleted in the
--     transaction that starts its executions, so a run twice, or two at once, start each once;
--   - an owner whose rows fail to expand keeps them with the reason (error, failed_at) and
--     does not stop anyone else's.
-- Updates still match synchronously (match_updated_lead_workflows): their old values are in
-- the statement's transition table only.

create table private.lead_changes (
  id bigint generated always as identity primary key,
  user_id uuid not null,
  chain uuid[] not null default '{}',
  leads jsonb not null,
  created_at timestamptz not null default now(),
  error text,
  failed_at timestamptz,
  constraint lead_changes_leads_check check (jsonb_typeof(leads) = 'array'),
  constraint lead_changes_failed_check check ((error is null) = (failed_at is null))
);
comment on table private.lead_changes is
  'Inbox of lead inserts whose owner has lead_created, tag_added or lead_score_reached workflows: one row per statement and owner, expanded into executions by beacon-lead-changes. No foreign key to auth.users: a row is short-lived, and a deleted owner''s rows match no workflow.';
comment on column private.lead_changes.chain is 'The workflow chain running when the leads were inserted (empty outside the worker).';
comment on column private.lead_changes.leads is 'The inserted leads as they stood after the insert statement (to_jsonb of each public.leads row).';
comment on column private.lead_changes.error is 'Why expanding this row failed; such rows are kept and no longer claimed.';
create index lead_changes_pending_idx on private.lead_changes (id) where error is null;
create index lead_changes_user_id_idx on private.lead_changes (user_id);
alter table private.lead_changes enable row level security;
revoke all on table private.lead_changes from public, anon, authenticated, service_role;

create or replace function private.match_inserted_lead_workflows()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into private.lead_changes (user_id, chain, leads)
  select n.user_id, private.current_workflow_chain(), jsonb_agg(to_jsonb(l))
  from new_leads as n
  join public.leads as l on l.id = n.id
  where exists (
    select
    from private.workflow_triggers as t
    where t.user_id = n.user_id
      and t.type in ('lead_created', 'tag_added', 'lead_score_reached')
  )
  group by n.user_id;
  return null;
end;
$$;
comment on function private.match_inserted_lead_workflows() is
  'Trigger (after insert on leads, per statement): records the new leads of owners with lead_created, tag_added or lead_score_reached workflows in private.lead_changes, one row per owner.';

create function private.start_lead_change_workflows(change_ids bigint[])
returns void
language plpgsql
set search_path = ''
as $$
declare
  previous_chain constant text := current_setting('beacon.workflow_chain', true);
  recorded_chain uuid[];
begin
  for recorded_chain in
    select distinct c.chain from private.lead_changes as c where c.id = any (change_ids)
  loop
    perform pg_catalog.set_config('beacon.workflow_chain', recorded_chain::text, true);
    perform private.start_workflow_executions(
      array_agg(m.workflow_id order by m.change_id, m.position, m.workflow_id),
      array_agg(m.user_id order by m.change_id, m.position, m.workflow_id),
      array_agg(m.lead_id order by m.change_id, m.position, m.workflow_id),
      array_agg(m.data order by m.change_id, m.position, m.workflow_id))
    from (
      -- Each lead's conditions are checked once per distinct condition of its owner's
      -- workflows, not once per workflow: 20 workflows sharing a condition check it once.
      with recorded as materialized (
        select c.id as change_id, e.position, c.user_id, l as lead
        from private.lead_changes as c
        cross join lateral jsonb_array_elements(c.leads) with ordinality as e (lead, position)
        cross join lateral jsonb_populate_record(null::public.leads, e.lead) as l
        where c.id = any (change_ids)
          and c.chain = recorded_chain
          and l.user_id = c.user_id
          and exists (select from public.leads as still where still.id = l.id)
      ),
      triggers as materialized (
        select t.*
        from private.workflow_triggers as t
        where t.user_id in (select r.user_id from recorded as r)
          and t.type in ('lead_created', 'tag_added', 'lead_score_reached')
      ),
      met as materialized (
        select r.change_id, r.position, d.conditions
        from recorded as r
        join (select distinct t.user_id, t.conditions from triggers as t where t.conditions is not null) as d
          on d.user_id = r.user_id
        where private.lead_matches(r.lead, d.conditions)
      )
      select
        r.change_id,
        r.position,
        t.workflow_id,
        r.user_id,
        (r.lead).id as lead_id,
        jsonb_build_object('trigger', t.type, 'lead_id', (r.lead).id) || case t.type
          when 'tag_added' then jsonb_build_object('tags', (r.lead).tags)
          when 'lead_score_reached' then jsonb_build_object('score', (r.lead).score, 'threshold', t.score)
          else '{}'
        end as data
      from recorded as r
      join triggers as t on t.user_id = r.user_id
      left join met as k
        on k.change_id = r.change_id and k.position = r.position and k.conditions = t.conditions
      where case t.type
          when 'lead_created' then true
          when 'tag_added' then t.tag = any ((r.lead).tags) or (t.tag is null and cardinality((r.lead).tags) > 0)
          else (r.lead).score >= t.score
        end
        and (t.conditions is null or k.change_id is not null)
    ) as m;
  end loop;
  perform pg_catalog.set_config('beacon.workflow_chain', coalesce(previous_chain, ''), true);
  delete from private.lead_changes as c where c.id = any (change_ids);
end;
$$;
comment on function private.start_lead_change_workflows(bigint[]) is
  'Starts the workflows that these lead_changes rows match (their leads as recorded, under their recorded chain), oldest first, and deletes the rows.';
revoke all on function private.start_lead_change_workflows(bigint[]) from public;

create function private.expand_lead_changes(batch integer default 1000)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  claimed bigint[];
  owner uuid;
  owner_changes bigint[];
begin
  select array_agg(c.id order by c.id)
  into claimed
  from (
    select p.id
    from private.lead_changes as p
    where p.error is null
    order by p.id
    limit greatest(batch, 1)
    for update skip locked
  ) as c;
  if claimed is null then
    return 0;
  end if;
  begin
    perform private.start_lead_change_workflows(claimed);
  exception when others then
    -- Someone's rows fail the batch: expand owner by owner, each on their own.
    for owner in select distinct c.user_id from private.lead_changes as c where c.id = any (claimed) loop
      select array_agg(c.id order by c.id)
      into owner_changes
      from private.lead_changes as c
      where c.id = any (claimed) and c.user_id = owner;
      begin
        perform private.start_lead_change_workflows(owner_changes);
      exception when others then
        update private.lead_changes as c
        set error = left(sqlerrm, 2000), failed_at = now()
        where c.id = any (owner_changes);
      end;
    end loop;
  end;
  return cardinality(claimed);
end;
$$;
comment on function private.expand_lead_changes(integer) is
  'Claims up to batch pending lead_changes rows (oldest first, skip locked) and starts their workflows; an owner whose rows fail keeps them with the error. Returns how many rows it claimed.';
revoke all on function private.expand_lead_changes(integer) from public;

-- Every minute, a loop that expands the inbox, sleeping a quarter second when it is empty,
-- until the minute ends (the next run takes over) or the job is paused.
select cron.schedule(
  'beacon-lead-changes',
  '* * * * *',
  $job$do $changes$
declare
  ends constant timestamptz := date_trunc('minute', clock_timestamp()) + interval '59 seconds';
  claimed integer;
begin
  while clock_timestamp() < ends
    and exists (select from cron.job where jobname = 'beacon-lead-changes' and active) loop
    claimed := private.expand_lead_changes(1000);
    commit;
    -- The sleep gets a transaction of its own, so that each expansion's now() (the
    -- executions' started_at) is when it ran.
    if claimed < 1000 then
      perform pg_sleep(0.25);
      commit;
    end if;
  end loop;
end;
$changes$$job$
);
