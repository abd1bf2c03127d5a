-- Kind webhook gets a dead_handler, like email and social_publish (issue 10): a webhook whose
-- last lease ran out with no report is dead-lettered by whichever claim comes next, and
-- private.wake_dead_webhooks wakes the workflow execution parked on it, which then fails with
-- the webhook's reason. claim_webhooks used to do this itself, after its claim, by looking for
-- webhooks dead-lettered at now(); the handler is handed exactly the claim's dead jobs, and
-- works whoever claims.

-- The executions parked on a webhook, found from it (the wake-ups here and in complete_webhooks).
create index workflow_runs_waiting_for_idx on private.workflow_runs (waiting_for) where waiting_for is not null;

create function private.wake_dead_webhooks(p_job_ids bigint[])
returns integer
language sql
set search_path = ''
as $$
  with woken as (
    update private.workflow_runs as r
    set run_after = now()
    from private.jobs as j
    where j.id = any (p_job_ids)
      and j.kind = 'webhook'
      and j.status = 'dead'
      and r.waiting_for = j.subject_id
    returning 1
  )
  select count(*)::integer from woken
$$;
comment on function private.wake_dead_webhooks(bigint[]) is
  'dead_handler of kind webhook: the workflow executions waiting for webhooks a claim dead-lettered (their last lease ran out with no report) run now, and fail with the webhook''s reason. Returns how many woke.';
revoke all on function private.wake_dead_webhooks(bigint[]) from public, anon, authenticated, service_role;

update private.job_kinds
set dead_handler = 'private.wake_dead_webhooks'
where kind = 'webhook';

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
end;
$$;

