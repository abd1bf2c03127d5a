-- One owner cannot flood the shared workflow worker:
--
--   - Fair claims: a batch (private.claim_workflow_runs) takes the owners with due runs,
--     longest-waiting first, and gives each an equal share of the batch
--     (max_executions / owners, at least 1), so another owner's due execution runs in the
--     next batch however many runs one owner has queued. Finding the owners is a loose
--     index scan over (user_id, run_after): one index probe per owner with runs.
--   - A quota per owner: at most private.default_workflow_executions_per_minute() (1000)
--     executions run per owner per minute (starts and resumptions after a wait or webhook
--     alike), or the owner's own figure in private.workflow_quotas, which only the
--     platform's operator sets. Over quota, the owner's runs stay queued and are claimed
--     from the next minute on (deferred, never dropped); the other owners are not held up.
--     The count is kept per batch, so workers running at the same time may overshoot it
--     by at most a batch's share each.

create function private.default_workflow_executions_per_minute()
returns integer
language sql
immutable
set search_path = ''
as $$
  select 1000
$$;
comment on function private.default_workflow_executions_per_minute() is
  'How many workflow executions the worker runs per owner per minute unless private.workflow_quotas says otherwise.';

create table private.workflow_quotas (
  user_id uuid primary key references auth.users (id) on delete cascade,
  executions_per_minute integer,
  minute timestamptz,
  executions integer not null default 0,
  constraint workflow_quotas_executions_per_minute_check check (executions_per_minute between 1 and 10000000),
  constraint workflow_quotas_executions_check check (executions >= 0)
);
comment on table private.workflow_quotas is
  'Per owner: the workflow worker''s quota (executions per minute; null: the default) and how many it ran in the current minute.';
comment on column private.workflow_quotas.executions_per_minute is
  'This owner''s quota, set by the operator; null: private.default_workflow_executions_per_minute().';
comment on column private.workflow_quotas.minute is 'The minute that executions counts.';
revoke all on table private.workflow_quotas from public, anon, authenticated, service_role;

-- The fair claim looks up each owner's oldest run; nothing else reads runs by run_after alone.
create index workflow_runs_user_id_run_after_idx on private.workflow_runs (user_id, run_after);
drop index private.workflow_runs_run_after_idx;

create function private.claim_workflow_runs(max_executions integer)
returns setof private.workflow_runs
language sql
set search_path = ''
as $$
  with recursive owners (user_id, first_run_after) as (
    (select r.user_id, r.run_after from private.workflow_runs as r order by r.user_id, r.run_after limit 1)
    union all
    select n.user_id, n.run_after
    from owners as o
    cross join lateral (
      select r.user_id, r.run_after
      from private.workflow_runs as r
      where r.user_id > o.user_id
      order by r.user_id, r.run_after
      limit 1
    ) as n
  ),
  chosen as (
    select d.user_id, d.allowance
    from (
      select
        o.user_id,
        o.first_run_after,
        coalesce(q.executions_per_minute, private.default_workflow_executions_per_minute())
          - case when q.minute = date_trunc('minute', now()) then q.executions else 0 end as allowance
      from owners as o
      left join private.workflow_quotas as q on q.user_id = o.user_id
      where o.first_run_after <= now()
    ) as d
    where d.allowance > 0
    order by d.first_run_after
    limit max_executions
  ),
  share as (
    select greatest(1, max_executions / greatest(count(*), 1))::integer as per_owner
    from chosen
  )
  select r.*
  from chosen as c
  cross join share as s
  cross join lateral (
    select r.*
    from private.workflow_runs as r
    where r.user_id = c.user_id
      and r.run_after <= now()
    order by r.run_after
    limit least(c.allowance, s.per_owner)
    for update skip locked
  ) as r
$$;
comment on function private.claim_workflow_runs(integer) is
  'Claims (skip locked) up to max_executions due runs, an equal share per owner with due runs and quota left, longest-waiting owners first.';

create or replace function private.run_workflow_batch(max_executions integer default 100)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  run private.workflow_runs;
  ran_for uuid[] := '{}'::uuid[];
begin
  for run in select * from private.claim_workflow_runs(max_executions) loop
    perform private.run_workflow_execution(run);
    ran_for := ran_for || run.user_id;
  end loop;
  insert into private.workflow_quotas as q (user_id, minute, executions)
  select o.user_id, date_trunc('minute', now()), count(*)
  from unnest(ran_for) as o (user_id)
  group by o.user_id
  on conflict (user_id) do update
  set executions = case when q.minute = excluded.minute then q.executions + excluded.executions else excluded.executions end,
      minute = excluded.minute;
  if exists (
    select from private.webhook_queue as q
    where q.status = 'pending' and coalesce(q.lease_until, q.run_after) <= now()
  ) then
    perform private.call_function('/dispatch');
  end if;
  return cardinality(ran_for);
end;
$$;
comment on function private.run_workflow_batch(integer) is
  'Runs up to max_executions due workflow executions, claimed fairly across owners within their quotas (private.claim_workflow_runs); wakes dispatch for queued webhooks. Returns how many ran.';

revoke all on function
  private.default_workflow_executions_per_minute(),
  private.claim_workflow_runs(integer)
from public, anon, authenticated, service_role;
