-- Workflow webhooks move onto the one queue (docs/queue.md): each webhook is a job of kind
-- 'webhook' in private.jobs, and private.webhook_queue becomes a view of those jobs with the
-- columns it had, so the workflow worker (which inserts, reads and deletes webhooks through
-- it) and the dispatcher's claim_webhooks / complete_webhooks keep their contracts:
--
--   webhook_queue        private.jobs (kind 'webhook')
--   id                   subject_id (the webhook is what the job works for)
--   (execution_id, step) key '<execution_id>:<step>' (one webhook per step, as before)
--   execution_id, step, url, secret_name, headers, body   payload
--   status pending | sent | dead    ready or held | done | failed or dead
--   http_status          result ->> 'http_status'
--   completed_at         updated_at once finished
--
-- An insert into the view enqueues a job (an instead-of trigger); updates of run_after and
-- lease_until, and deletes, go straight through (the view is updatable). Deleting an
-- execution deletes its webhooks (the foreign key's cascade, now a trigger).
--
-- rollback_check: rows move between private.jobs private.webhook_queue

select private.register_job_kind('webhook', private.webhook_max_attempts(), 120);

-- A webhook is found by its id whatever its status (the worker reads the outcome of a sent or
-- dead one): the subject index covers every status.
drop index private.jobs_subject_id_idx;
create index jobs_subject_id_idx on private.jobs (kind, subject_id) where subject_id is not null;
-- Deleting an execution finds its webhooks.
create index jobs_webhook_execution_id_idx on private.jobs ((payload ->> 'execution_id')) where kind = 'webhook';

insert into private.jobs (kind, key, user_id, subject_id, payload, status, run_after, attempts, lease_until,
                          leased_by, last_error, result, created_at, updated_at)
select
  'webhook',
  q.execution_id || ':' || q.step,
  q.user_id,
  q.id,
  jsonb_build_object('execution_id', q.execution_id, 'step', q.step, 'url', q.url, 'secret_name', q.secret_name,
                     'headers', q.headers, 'body', q.body),
  case q.status when 'pending' then 'ready' when 'sent' then 'done' else 'dead' end,
  q.run_after,
  q.attempts,
  case when q.status = 'pending' then q.lease_until end,
  case when q.status = 'pending' then q.leased_by end,
  q.last_error,
  case when q.http_status is not null then jsonb_build_object('http_status', q.http_status) end,
  q.created_at,
  coalesce(q.completed_at, q.created_at)
from private.webhook_queue as q;

drop table private.webhook_queue;

create view private.webhook_queue as
select
  j.subject_id as id,
  j.user_id,
  (j.payload ->> 'execution_id')::uuid as execution_id,
  (j.payload ->> 'step')::integer as step,
  j.payload ->> 'url' as url,
  j.payload ->> 'secret_name' as secret_name,
  j.payload -> 'headers' as headers,
  j.payload -> 'body' as body,
  case when j.status in ('ready', 'held') then 'pending' when j.status = 'done' then 'sent' else 'dead' end as status,
  j.attempts,
  j.run_after,
  j.lease_until,
  j.leased_by,
  (j.result ->> 'http_status')::integer as http_status,
  j.last_error,
  j.created_at,
  case when j.status in ('done', 'failed', 'dead') then j.updated_at end as completed_at
from private.jobs as j
where j.kind = 'webhook';
comment on view private.webhook_queue is
  'Webhooks sent by workflow steps: the jobs of kind webhook (private.jobs), in the columns the workflow worker and the dispatcher use; inserting enqueues one.';
revoke all on table private.webhook_queue from public, anon, authenticated, service_role;

create function private.enqueue_webhook()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.id := coalesce(new.id, gen_random_uuid());
  insert into private.jobs (kind, key, user_id, subject_id, payload)
  values (
    'webhook',
    new.execution_id || ':' || new.step,
    new.user_id,
    new.id,
    jsonb_build_object('execution_id', new.execution_id, 'step', new.step, 'url', new.url,
                       'secret_name', new.secret_name, 'headers', coalesce(new.headers, '{}'), 'body', new.body)
  );
  new.status := 'pending';
  new.attempts := 0;
  new.run_after := now();
  new.created_at := now();
  return new;
end;
$$;
comment on function private.enqueue_webhook() is
  'Instead-of-insert trigger of private.webhook_queue: enqueues the webhook as a job of kind webhook (a second webhook for the same execution step is refused by the key).';
revoke all on function private.enqueue_webhook() from public, anon, authenticated, service_role;
create trigger enqueue_webhook
instead of insert on private.webhook_queue
for each row execute function private.enqueue_webhook();

create function private.delete_execution_webhooks()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  delete from private.jobs as j
  using old_executions as o
  where j.kind = 'webhook'
    and j.payload ->> 'execution_id' = o.id::text;
  return null;
end;
$$;
comment on function private.delete_execution_webhooks() is
  'Trigger: deleting workflow executions deletes their webhooks (jobs of kind webhook).';
revoke all on function private.delete_execution_webhooks() from public, anon, authenticated, service_role;
create trigger delete_execution_webhooks
after delete on public.workflow_executions
referencing old table as old_executions
for each statement execute function private.delete_execution_webhooks();

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
  select c.subject_id, c.subject_id::text, c.attempts, c.user_id, c.payload ->> 'url', c.payload ->> 'secret_name',
         c.payload -> 'headers', (c.payload -> 'body')::text
  from private.claim_jobs('webhook', max_webhooks, worker) as c
  order by c.created_at;

  -- The caller's lease, where it is not the kind's (the claim above set that one).
  update private.jobs as j
  set lease_until = now() + lease
  where j.kind = 'webhook'
    and j.leased_by = worker
    and j.updated_at = now()
    and j.lease_until <> now() + lease;

  -- Webhooks the claim dead-lettered (no attempt left) wake the executions waiting for them.
  update private.workflow_runs as r
  set run_after = now()
  from private.jobs as j
  where j.status = 'dead'
    and j.updated_at = now()
    and j.kind = 'webhook'
    and r.waiting_for = j.subject_id;
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
  reports jsonb;
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

  -- The worker's own leased webhooks, locked, with what becomes of each; then one batch for
  -- private.complete_jobs. A retry waits max(retry_after_seconds, the backoff) with jitter.
  with reported as (
    -- A webhook reported twice counts once, as first reported.
    select distinct on ((e.r ->> 'webhook_id')::uuid)
      (e.r ->> 'webhook_id')::uuid as webhook_id,
      e.r ->> 'outcome' as outcome,
      (e.r ->> 'http_status')::integer as http_status,
      e.r ->> 'error' as error,
      (e.r ->> 'retry_after_seconds')::integer as retry_after_seconds
    from jsonb_array_elements(results) with ordinality as e (r, n)
    order by (e.r ->> 'webhook_id')::uuid, e.n
  ),
  mine as (
    select
      j.id,
      j.subject_id,
      r.outcome,
      r.http_status,
      r.error,
      case
        when r.outcome = 'sent' then 'sent'
        when r.outcome = 'failed' or j.attempts >= private.webhook_max_attempts() then 'dead'
        else 'retry'
      end as fate,
      ceil(extract(epoch from least(
        greatest(make_interval(secs => coalesce(r.retry_after_seconds, 0)), private.retry_backoff(j.attempts))
          * (1 + 0.25 * random()),
        interval '1 hour')))::integer as wait_seconds
    from reported as r
    join private.jobs as j on j.kind = 'webhook' and j.subject_id = r.webhook_id
    where j.leased_by = worker
      and j.status = 'ready'
    for update of j
  )
  select
    jsonb_build_object(
      'sent', count(*) filter (where m.fate = 'sent'),
      'retried', count(*) filter (where m.fate = 'retry'),
      'dead_lettered', count(*) filter (where m.fate = 'dead'),
      'ignored', (select count(*) from reported) - count(*)
    ),
    coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
      'id', m.id,
      'outcome', case m.outcome when 'sent' then 'done' else m.outcome end,
      'error', case when m.outcome = 'failed' then coalesce(m.error, 'the receiver refused the webhook') else m.error end,
      'result', case when m.http_status is not null then jsonb_build_object('http_status', m.http_status) end,
      'retry_after_seconds', case when m.fate = 'retry' then m.wait_seconds end
    ))) filter (where m.id is not null), '[]')
  into counts, reports
  from mine as m;

  perform private.complete_jobs('webhook', reports, worker);

  -- A delivered or dead-lettered webhook wakes the execution waiting for it.
  update private.workflow_runs as r
  set run_after = now()
  from jsonb_array_elements(reports) as p (report)
  join private.jobs as j on j.id = (p.report ->> 'id')::bigint
  where r.waiting_for = j.subject_id
    and j.status <> 'ready';
  return counts;
end;
$$;
comment on function private.claim_webhooks(text, integer, interval) is
  'Leases up to max_webhooks due webhooks (jobs of kind webhook, through private.claim_jobs: skip locked, fair across owners) to worker and returns what to send; dead-letters those out of attempts.';
comment on function private.complete_webhooks(text, jsonb) is
  'Records a worker''s results (sent, retry, failed) for the webhooks it holds, in one private.complete_jobs batch; retries back off, the fifth failure dead-letters; wakes the waiting executions. Returns counts.';
