-- Back to claim_webhooks waking the executions of the webhooks its claim dead-lettered itself.
update private.job_kinds
set dead_handler = null
where kind = 'webhook';
drop function private.wake_dead_webhooks(bigint[]);
drop index private.workflow_runs_waiting_for_idx;

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

