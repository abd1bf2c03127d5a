-- Back to the webhook queue's own table, with its rows (as 20261125141700_webhook_queue made it).
drop trigger delete_execution_webhooks on public.workflow_executions;
drop function private.delete_execution_webhooks();
alter view private.webhook_queue rename to webhook_jobs_view;
drop trigger enqueue_webhook on private.webhook_jobs_view;
drop function private.enqueue_webhook();

create table private.webhook_queue (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  execution_id uuid not null references public.workflow_executions (id) on delete cascade,
  step integer not null,
  url text not null,
  secret_name text not null,
  headers jsonb not null default '{}',
  body jsonb not null,
  status text not null default 'pending',
  attempts integer not null default 0,
  run_after timestamptz not null default now(),
  lease_until timestamptz,
  leased_by text,
  http_status integer,
  last_error text,
  created_at timestamptz not null default now(),
  completed_at timestamptz,
  -- One webhook per execution step: a step run again (after a crash) cannot send twice.
  constraint webhook_queue_execution_id_step_key unique (execution_id, step),
  constraint webhook_queue_status_check check (status in ('pending', 'sent', 'dead')),
  constraint webhook_queue_attempts_check check (attempts >= 0),
  constraint webhook_queue_lease_check check ((lease_until is null) = (leased_by is null)),
  constraint webhook_queue_leased_by_check check (length(leased_by) between 1 and 200),
  constraint webhook_queue_last_error_check check (length(last_error) <= 2000)
);
comment on table private.webhook_queue is
  'Webhooks sent by workflow steps, waiting for the dispatcher: claimed under a lease, retried with backoff, dead-lettered after 5 attempts.';
comment on column private.webhook_queue.status is 'pending (to send), sent or dead (dead-lettered); the worker removes sent and dead rows.';
comment on column private.webhook_queue.body is 'The JSON to POST (the dispatcher sends body::text, signed).';

-- The claim: pending rows by when they became ready.
create index webhook_queue_ready_idx on private.webhook_queue ((coalesce(lease_until, run_after)))
  where status = 'pending';
create index webhook_queue_user_id_idx on private.webhook_queue (user_id);
revoke all on table private.webhook_queue from public, anon, authenticated, service_role;

insert into private.webhook_queue (id, user_id, execution_id, step, url, secret_name, headers, body, status, attempts,
                                   run_after, lease_until, leased_by, http_status, last_error, created_at, completed_at)
select id, user_id, execution_id, step, url, secret_name, headers, body, status, attempts, run_after,
       case when status = 'pending' and leased_by is not null then lease_until end,
       case when status = 'pending' and lease_until is not null then leased_by end,
       http_status, left(last_error, 2000), created_at, completed_at
from private.webhook_jobs_view;
drop view private.webhook_jobs_view;
-- The kind stays registered (without jobs, harmlessly): re-applying registers it again anyway.
delete from private.jobs where kind = 'webhook';

drop index private.jobs_webhook_execution_id_idx;
drop index private.jobs_subject_id_idx;
create index jobs_subject_id_idx on private.jobs (kind, subject_id)
  where subject_id is not null and status in ('ready', 'held');

create or replace function private.claim_webhooks(worker text, max_webhooks integer default 50, lease interval default '2 minutes')
returns table (
  webhook_id uuid,
  idempotency_key text,
  attempt integer,
  user_id uuid,
  url text,
  secret_name text,
  headers jsonb,
  body text
)
language plpgsql
set search_path = ''
as $$
#variable_conflict use_column
begin
  if worker is null or btrim(worker) = '' or length(worker) > 200 then
    raise exception using
      errcode = 'invalid_parameter_value',
      message = 'claim_webhooks: worker must name the worker, in 1 to 200 characters',
      hint = 'Use an id unique to this worker process, e.g. a random UUID.';
  end if;
  if max_webhooks is null or max_webhooks not between 1 and 1000 then
    raise exception using
      errcode = 'invalid_parameter_value',
      message = format('claim_webhooks: max_webhooks must be between 1 and 1000, not %s', coalesce(max_webhooks::text, 'null'));
  end if;
  if lease is null or lease < interval '1 second' or lease > interval '1 hour' then
    raise exception using
      errcode = 'invalid_parameter_value',
      message = format('claim_webhooks: lease must be between 1 second and 1 hour, not %s', coalesce(lease::text, 'null'));
  end if;

  return query
  with candidates as (
    select q.id, q.attempts >= private.webhook_max_attempts() as exhausted
    from private.webhook_queue as q
    where q.status = 'pending'
      and coalesce(q.lease_until, q.run_after) <= now()
    order by coalesce(q.lease_until, q.run_after)
    limit max_webhooks
    for update skip locked
  ),
  dead as (
    update private.webhook_queue as q
    set status = 'dead',
        lease_until = null,
        leased_by = null,
        completed_at = now(),
        last_error = format('gave up after %s attempts: %s', q.attempts,
          coalesce(q.last_error, 'no result came back before the lease ran out'))
    from candidates as c
    where q.id = c.id
      and c.exhausted
    returning q.id
  ),
  woken as (
    update private.workflow_runs as r
    set run_after = now()
    from dead as d
    where r.waiting_for = d.id
  ),
  leased as (
    update private.webhook_queue as q
    set lease_until = now() + lease,
        leased_by = worker,
        attempts = q.attempts + 1
    from candidates as c
    where q.id = c.id
      and not c.exhausted
    returning q.*
  )
  select l.id, l.id::text, l.attempts, l.user_id, l.url, l.secret_name, l.headers, l.body::text
  from leased as l
  order by l.created_at;
end;
$$;

create or replace function private.complete_webhooks(worker text, results jsonb)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  problem text;
  counts jsonb;
begin
  if jsonb_typeof(results) is distinct from 'array' then
    raise exception using
      errcode = 'invalid_parameter_value',
      message = 'complete_webhooks: results must be a JSON array',
      hint = 'Pass [{"webhook_id": ..., "outcome": "sent" | "retry" | "failed", "http_status"?, "error"?, "retry_after_seconds"?}].';
  end if;

  select p.problem
  into problem
  from jsonb_array_elements(results) with ordinality as e (r, n)
  cross join lateral (
    select coalesce(
      private.queue_result_problem(e.r, (e.n - 1)::integer, 'webhook_id', 'webhook'),
      case when jsonb_typeof(e.r -> 'http_status') not in ('number', 'null')
                or (e.r ->> 'http_status')::numeric not between 100 and 599 then
        format('results[%s].http_status: expected an HTTP status code, not %s', e.n - 1, e.r -> 'http_status')
      end
    ) as problem
  ) as p
  where p.problem is not null
  order by e.n
  limit 1;
  if problem is not null then
    raise exception using errcode = 'invalid_parameter_value', message = 'complete_webhooks: ' || problem;
  end if;

  with reported as (
    -- A webhook reported twice counts once, as first reported.
    select distinct on ((e.r ->> 'webhook_id')::uuid)
      (e.r ->> 'webhook_id')::uuid as webhook_id,
      e.r ->> 'outcome' as outcome,
      (e.r ->> 'http_status')::integer as http_status,
      left(e.r ->> 'error', 1000) as error,
      (e.r ->> 'retry_after_seconds')::integer as retry_after_seconds
    from jsonb_array_elements(results) with ordinality as e (r, n)
    order by (e.r ->> 'webhook_id')::uuid, e.n
  ),
  mine as (
    select
      q.id,
      q.attempts,
      r.outcome,
      r.http_status,
      r.error,
      r.retry_after_seconds,
      case
        when r.outcome = 'sent' then 'sent'
        when r.outcome = 'failed' or q.attempts >= private.webhook_max_attempts() then 'dead'
        else 'retry'
      end as fate
    from reported as r
    join private.webhook_queue as q on q.id = r.webhook_id
    where q.leased_by = worker
      and q.status = 'pending'
    for update of q
  ),
  recorded as (
    update private.webhook_queue as q
    set status = case when m.fate = 'retry' then 'pending' else m.fate end,
        run_after = case when m.fate = 'retry' then now() + least(
            greatest(make_interval(secs => coalesce(m.retry_after_seconds, 0)), private.retry_backoff(m.attempts))
              * (1 + 0.25 * random()),
            interval '1 hour') else q.run_after end,
        lease_until = null,
        leased_by = null,
        http_status = coalesce(m.http_status, q.http_status),
        last_error = case
          when m.fate = 'sent' then q.last_error
          when m.outcome = 'failed' then coalesce(m.error, 'the receiver refused the webhook')
          when m.fate = 'dead' then format('gave up after %s attempts: %s', m.attempts, coalesce(m.error, 'no error given'))
          else coalesce(m.error, q.last_error)
        end,
        completed_at = case when m.fate = 'retry' then null else now() end
    from mine as m
    where q.id = m.id
    returning q.id, q.status
  ),
  woken as (
    update private.workflow_runs as r
    set run_after = now()
    from recorded as d
    where r.waiting_for = d.id
      and d.status <> 'pending'
  )
  select jsonb_build_object(
    'sent', count(*) filter (where m.fate = 'sent'),
    'retried', count(*) filter (where m.fate = 'retry'),
    'dead_lettered', count(*) filter (where m.fate = 'dead'),
    'ignored', (select count(*) from reported) - count(*)
  )
  into counts
  from mine as m;
  return counts;
end;
$$;
comment on function private.claim_webhooks(text, integer, interval) is
  'Leases up to max_webhooks due webhooks to worker (for update skip locked) and returns what to send; dead-letters those out of attempts.';
comment on function private.complete_webhooks(text, jsonb) is
  'Records a worker''s results (sent, retry, failed) for the webhooks it holds; retries back off, the fifth failure dead-letters; wakes the waiting executions. Returns counts.';
