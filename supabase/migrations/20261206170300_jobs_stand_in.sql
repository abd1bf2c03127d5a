-- A stand-in for the generic queue (helper q's private.jobs, not on main when social publishing
-- was written), exactly per the shared contract, so that the social publishing queue can be
-- built and tested on it. When q's migration lands, this file and its rollback are deleted in
-- the same merge: the social migrations after it only use the contract's names.

create table private.job_kinds (
  kind text primary key,
  max_attempts integer not null,
  lease_seconds integer not null,
  created_at timestamptz not null default now(),
  constraint job_kinds_max_attempts_check check (max_attempts between 1 and 100),
  constraint job_kinds_lease_seconds_check check (lease_seconds between 1 and 3600)
);
comment on table private.job_kinds is 'The kinds of queued work, with their attempts and lease.';

create table private.jobs (
  id bigint generated always as identity primary key,
  kind text not null references private.job_kinds (kind),
  key text not null,
  user_id uuid not null references auth.users (id) on delete cascade,
  subject_id uuid,
  payload jsonb not null default '{}',
  status text not null default 'ready',
  run_after timestamptz not null default now(),
  attempts integer not null default 0,
  lease_until timestamptz,
  last_error text,
  result jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint jobs_kind_key_key unique (kind, key),
  constraint jobs_status_check check (status in ('ready', 'held', 'done', 'failed', 'dead')),
  constraint jobs_attempts_check check (attempts >= 0),
  constraint jobs_payload_check check (jsonb_typeof(payload) = 'object')
);
comment on table private.jobs is 'Outbound work of every kind, claimed under a lease, retried with backoff, dead-lettered.';

create index jobs_ready_idx on private.jobs (kind, run_after) where status = 'ready';
create index jobs_user_id_idx on private.jobs (user_id);

create function private.register_job_kind(kind text, max_attempts integer, lease_seconds integer)
returns void
language sql
set search_path = ''
as $$
  insert into private.job_kinds (kind, max_attempts, lease_seconds)
  values (kind, max_attempts, lease_seconds)
  on conflict on constraint job_kinds_pkey do update
  set max_attempts = excluded.max_attempts, lease_seconds = excluded.lease_seconds
$$;

create function private.claim_jobs(p_kind text, p_limit integer)
returns setof private.jobs
language sql
set search_path = ''
as $$
  with due as (
    select j.id, row_number() over (partition by j.user_id order by j.run_after, j.id) as turn, j.run_after
    from private.jobs as j
    where j.kind = p_kind
      and j.status = 'ready'
      and j.run_after <= now()
      and (j.lease_until is null or j.lease_until < now())
  ),
  -- Fair across owners: every owner's first job before anyone's second.
  picked as (
    select j.id
    from private.jobs as j
    join due as d on d.id = j.id
    order by d.turn, d.run_after, d.id
    limit p_limit
    for update of j skip locked
  )
  update private.jobs as j
  set lease_until = now() + make_interval(secs => k.lease_seconds),
      attempts = j.attempts + 1,
      updated_at = now()
  from picked as p, private.job_kinds as k
  where j.id = p.id and k.kind = j.kind
  returning j.*
$$;

create function private.complete_jobs(p_kind text, p_results jsonb)
returns integer
language sql
set search_path = ''
as $$
  with reported as (
    select distinct on ((r ->> 'id')::bigint)
      (r ->> 'id')::bigint as id, r ->> 'outcome' as outcome, r ->> 'error' as error, r -> 'result' as result,
      (r ->> 'retry_after_seconds')::integer as retry_after_seconds,
      coalesce((r ->> 'count_attempt')::boolean, true) as count_attempt
    from jsonb_array_elements(p_results) as r
  ),
  mine as (
    select j.id, r.error, r.result, r.retry_after_seconds, r.count_attempt, case
      when r.outcome in ('done', 'failed') then r.outcome
      when r.count_attempt and j.attempts >= k.max_attempts then 'dead'
      else 'retry' end as fate
    from reported as r
    join private.jobs as j on j.id = r.id
    join private.job_kinds as k on k.kind = j.kind
    where j.kind = p_kind and j.status = 'ready' and j.lease_until is not null
    for update of j
  ),
  recorded as (
    update private.jobs as j
    set status = case when m.fate = 'retry' then 'ready' else m.fate end,
        attempts = case when m.count_attempt then j.attempts else j.attempts - 1 end,
        run_after = case when m.fate <> 'retry' then j.run_after
                         else now() + coalesce(make_interval(secs => m.retry_after_seconds), private.retry_backoff(j.attempts)) end,
        lease_until = null,
        last_error = coalesce(m.error, j.last_error),
        result = coalesce(m.result, j.result),
        updated_at = now()
    from mine as m
    where j.id = m.id
    returning j.id
  )
  select count(*)::integer from recorded
$$;

revoke all on function private.register_job_kind(text, integer, integer), private.claim_jobs(text, integer),
  private.complete_jobs(text, jsonb)
  from public, anon, authenticated, service_role;
