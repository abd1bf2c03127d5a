-- One queue for all outbound work (docs/queue.md): a job is a row of private.jobs of some
-- kind (private.job_kinds: how many attempts, how long a lease). Producers enqueue with
--   insert into private.jobs (kind, key, user_id, subject_id, payload, run_after)
--   select ... on conflict (kind, key) do nothing
-- so the key makes enqueueing idempotent. A worker claims with private.claim_jobs (due ready
-- jobs, fair across owners, `for update skip locked`, under a lease) and reports with
-- private.complete_jobs (one statement for the whole batch): done, failed, or retry with
-- backoff (or the provider's retry-after, or without counting the attempt); attempts used up
-- dead-letter the job. private.hold_jobs (and back) and private.cancel_jobs act on a subject's
-- waiting jobs (a paused or cancelled campaign, an unscheduled post).
--
-- Hot-path design: a claim writes only lease_until, attempts and updated_at, none of which
-- is indexed, so with fillfactor 80 its update is HOT (no index writes). The claim reads one
-- partial index (kind, user_id, run_after) of ready jobs; leased jobs stay in it (status
-- ready) and are skipped by lease_until, so an expired lease makes its job claimable again
-- without any write. updated_at is set by these functions, not by a row trigger, to keep the
-- claim free of per-row function calls.

create table private.job_kinds (
  kind text primary key,
  max_attempts integer not null,
  lease_seconds integer not null,
  created_at timestamptz not null default now(),
  constraint job_kinds_kind_check check (kind ~ '^[a-z][a-z0-9_]{0,49}$'),
  constraint job_kinds_max_attempts_check check (max_attempts between 1 and 100),
  constraint job_kinds_lease_seconds_check check (lease_seconds between 1 and 3600)
);
comment on table private.job_kinds is
  'Kinds of queued work (email, webhook, ...): attempts before a job is dead-lettered, and how long a claim leases it.';
revoke all on table private.job_kinds from public, anon, authenticated, service_role;
alter table private.job_kinds enable row level security;

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
  constraint jobs_key_check check (length(key) between 1 and 500),
  constraint jobs_payload_check check (jsonb_typeof(payload) = 'object'),
  constraint jobs_status_check check (status in ('ready', 'held', 'done', 'failed', 'dead')),
  constraint jobs_attempts_check check (attempts >= 0),
  constraint jobs_lease_check check (lease_until is null or status in ('ready', 'held')),
  constraint jobs_last_error_check check (length(last_error) <= 2000)
)
with (fillfactor = 80);
comment on table private.jobs is
  'Outbound work of every kind: claimed under a lease with private.claim_jobs, reported with private.complete_jobs; retried with backoff, dead-lettered after the kind''s max_attempts. See docs/queue.md.';
comment on column private.jobs.key is
  'Idempotency key, unique per kind: enqueue with on conflict (kind, key) do nothing; workers pass it to providers.';
comment on column private.jobs.subject_id is
  'What the job works for (a campaign, a post, an execution): hold_jobs and cancel_jobs act on it.';
comment on column private.jobs.status is
  'ready (claimable once run_after has passed and no lease is live), held (waits for hold_jobs(..., false)), done, failed (refused for good), dead (attempts used up).';
comment on column private.jobs.attempts is
  'Claims so far (a rate-limited attempt is given back); at the kind''s max_attempts a failing job is dead-lettered.';
comment on column private.jobs.lease_until is
  'Set by a claim; while in the future nobody else can claim the job; once past, the job can be claimed again.';
comment on column private.jobs.result is 'What the worker reported with the job''s outcome.';
revoke all on table private.jobs from public, anon, authenticated, service_role;
alter table private.jobs enable row level security;

-- The claim: each owner's ready jobs by due time (also the loose index scan over owners).
create index jobs_ready_idx on private.jobs (kind, user_id, run_after) where status = 'ready';
-- Holding, releasing and cancelling a subject's waiting jobs.
create index jobs_subject_id_idx on private.jobs (kind, subject_id)
  where subject_id is not null and status in ('ready', 'held');
-- Deleting an owner deletes their jobs.
create index jobs_user_id_idx on private.jobs (user_id);
-- Purging finished jobs.
create index jobs_finished_idx on private.jobs (updated_at) where status in ('done', 'failed', 'dead');

create function private.register_job_kind(kind text, max_attempts integer, lease_seconds integer)
returns void
language plpgsql
set search_path = ''
as $$
begin
  if kind is null or kind !~ '^[a-z][a-z0-9_]{0,49}$' then
    raise exception using
      errcode = 'invalid_parameter_value',
      message = format('register_job_kind: kind must be 1 to 50 lower-case letters, digits or _, starting with a letter, not %s',
                       coalesce(quote_literal(kind), 'null'));
  end if;
  if max_attempts is null or max_attempts not between 1 and 100 then
    raise exception using
      errcode = 'invalid_parameter_value',
      message = format('register_job_kind: max_attempts must be between 1 and 100, not %s', coalesce(max_attempts::text, 'null'));
  end if;
  if lease_seconds is null or lease_seconds not between 1 and 3600 then
    raise exception using
      errcode = 'invalid_parameter_value',
      message = format('register_job_kind: lease_seconds must be between 1 and 3600, not %s', coalesce(lease_seconds::text, 'null'));
  end if;
  insert into private.job_kinds as k (kind, max_attempts, lease_seconds)
  values (register_job_kind.kind, register_job_kind.max_attempts, register_job_kind.lease_seconds)
  on conflict on constraint job_kinds_pkey do update
  set max_attempts = excluded.max_attempts,
      lease_seconds = excluded.lease_seconds;
end;
$$;
comment on function private.register_job_kind(text, integer, integer) is
  'Adds a kind of job, or changes its max_attempts and lease_seconds (a migration of the kind''s producer calls it).';
revoke all on function private.register_job_kind(text, integer, integer) from public, anon, authenticated, service_role;

-- The kind must exist: a typo must not claim or report nothing in silence.
create function private.job_kind(caller text, kind text)
returns private.job_kinds
language plpgsql
stable
set search_path = ''
as $$
declare
  registered private.job_kinds;
begin
  select k.* into registered from private.job_kinds as k where k.kind = job_kind.kind;
  if not found then
    raise exception using
      errcode = 'invalid_parameter_value',
      message = format('%s: %s is not a kind of job', caller, coalesce(quote_literal(kind), 'null')),
      hint = 'Register it first with private.register_job_kind(kind, max_attempts, lease_seconds).';
  end if;
  return registered;
end;
$$;
comment on function private.job_kind(text, text) is 'The registered kind of job named kind; an error naming caller otherwise.';
revoke all on function private.job_kind(text, text) from public, anon, authenticated, service_role;

create function private.claim_jobs(p_kind text, p_limit integer)
returns setof private.jobs
language plpgsql
set search_path = ''
as $$
declare
  k private.job_kinds := private.job_kind('claim_jobs', p_kind);
begin
  if p_limit is null or p_limit not between 1 and 1000 then
    raise exception using
      errcode = 'invalid_parameter_value',
      message = format('claim_jobs: p_limit must be between 1 and 1000, not %s', coalesce(p_limit::text, 'null'));
  end if;

  return query
  -- The owners with ready jobs of this kind, one index probe each, with their earliest.
  with recursive owners (user_id, first_run_after) as (
    (
      select j.user_id, j.run_after
      from private.jobs as j
      where j.kind = p_kind
        and j.status = 'ready'
      order by j.user_id, j.run_after
      limit 1
    )
    union all
    select n.user_id, n.run_after
    from owners as o
    cross join lateral (
      select j.user_id, j.run_after
      from private.jobs as j
      where j.kind = p_kind
        and j.status = 'ready'
        and j.user_id > o.user_id
      order by j.user_id, j.run_after
      limit 1
    ) as n
  ),
  -- Longest-waiting owners first, each an equal share of the batch.
  chosen as (
    select o.user_id
    from owners as o
    where o.first_run_after <= now()
    order by o.first_run_after
    limit p_limit
  ),
  share as (
    select greatest(1, p_limit / greatest(count(*), 1))::integer as per_owner
    from chosen
  ),
  picked as (
    select j.id, j.attempts
    from chosen as c
    cross join share as s
    cross join lateral (
      select j.id, j.attempts
      from private.jobs as j
      where j.kind = p_kind
        and j.status = 'ready'
        and j.user_id = c.user_id
        and j.run_after <= now()
        and (j.lease_until is null or j.lease_until <= now())
      order by j.run_after
      limit s.per_owner
      for update skip locked
    ) as j
  ),
  -- Claimed again after its last lease ran out with no result, and no attempt left.
  dead as (
    update private.jobs as j
    set status = 'dead',
        lease_until = null,
        last_error = left(format('gave up after %s attempts: %s', j.attempts,
          coalesce(j.last_error, 'no result came back before the lease ran out')), 2000),
        updated_at = now()
    from picked as p
    where j.id = p.id
      and p.attempts >= k.max_attempts
  ),
  leased as (
    update private.jobs as j
    set lease_until = now() + make_interval(secs => k.lease_seconds),
        attempts = j.attempts + 1,
        updated_at = now()
    from picked as p
    where j.id = p.id
      and p.attempts < k.max_attempts
    returning j.*
  )
  select l.*
  from leased as l
  order by l.run_after, l.id;
end;
$$;
comment on function private.claim_jobs(text, integer) is
  'Leases up to p_limit due ready jobs of p_kind (for update skip locked), an equal share per owner, longest-waiting owners first; dead-letters those claimed again with no attempt left. Returns the leased jobs (attempts counts this one).';
revoke all on function private.claim_jobs(text, integer) from public, anon, authenticated, service_role;

-- The retry-after check of every queue's results, in one place.
create function private.retry_after_problem(value jsonb, path text)
returns text
language sql
immutable
set search_path = ''
as $$
  select case
    when jsonb_typeof(value) not in ('number', 'null') then
      format('%s: expected a number of seconds, not %s', path, value)
    when (value #>> '{}')::numeric not between 0 and 86400 or (value #>> '{}')::numeric % 1 <> 0 then
      format('%s: expected a whole number from 0 to 86400, not %s', path, value)
  end
$$;
comment on function private.retry_after_problem(jsonb, text) is
  'What is wrong with a result''s retry_after_seconds (at path), or null: a whole number of seconds from 0 to 86400, or null.';
revoke all on function private.retry_after_problem(jsonb, text) from public, anon, authenticated, service_role;

create or replace function private.queue_result_problem(result jsonb, i integer, id_key text, id_noun text)
returns text
language sql
immutable
set search_path = ''
as $_$
  select coalesce(
    case when jsonb_typeof(result) <> 'object' then format('results[%s]: expected an object, not %s', i, result) end,
    case when jsonb_typeof(result -> id_key) is distinct from 'string'
              or lower(result ->> id_key) !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
      format('results[%s].%s: %s is not a %s id', i, id_key, coalesce(result -> id_key, 'null'), id_noun)
    end,
    case when (result ->> 'outcome') is null or (result ->> 'outcome') not in ('sent', 'retry', 'failed') then
      format('results[%s].outcome: %s is not sent, retry or failed', i, coalesce(result -> 'outcome', 'null'))
    end,
    case when jsonb_typeof(result -> 'error') not in ('string', 'null') then
      format('results[%s].error: expected a string, not %s', i, result -> 'error')
    end,
    private.retry_after_problem(result -> 'retry_after_seconds', format('results[%s].retry_after_seconds', i))
  )
$_$;

create function private.job_result_problem(result jsonb, i integer)
returns text
language sql
immutable
set search_path = ''
as $$
  select coalesce(
    case when jsonb_typeof(result) <> 'object' then format('results[%s]: expected an object, not %s', i, result) end,
    case when jsonb_typeof(result -> 'id') is distinct from 'number' or (result ->> 'id')::numeric % 1 <> 0
              or (result ->> 'id')::numeric < 1 then
      format('results[%s].id: %s is not a job id', i, coalesce(result -> 'id', 'null'))
    end,
    case when (result ->> 'outcome') is null or (result ->> 'outcome') not in ('done', 'retry', 'failed') then
      format('results[%s].outcome: %s is not done, retry or failed', i, coalesce(result -> 'outcome', 'null'))
    end,
    case when jsonb_typeof(result -> 'error') not in ('string', 'null') then
      format('results[%s].error: expected a string, not %s', i, result -> 'error')
    end,
    private.retry_after_problem(result -> 'retry_after_seconds', format('results[%s].retry_after_seconds', i)),
    case when jsonb_typeof(result -> 'count_attempt') not in ('boolean', 'null') then
      format('results[%s].count_attempt: expected true or false, not %s', i, result -> 'count_attempt')
    end,
    case when jsonb_typeof(result -> 'attempt') not in ('number', 'null')
              or (result ->> 'attempt')::numeric % 1 <> 0 or (result ->> 'attempt')::numeric not between 1 and 100 then
      format('results[%s].attempt: expected the job''s attempts from its claim, not %s', i, result -> 'attempt')
    end
  )
$$;
comment on function private.job_result_problem(jsonb, integer) is
  'What is wrong with the i-th result reported to private.complete_jobs, or null.';
revoke all on function private.job_result_problem(jsonb, integer) from public, anon, authenticated, service_role;

create function private.complete_jobs(p_kind text, p_results jsonb)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  k private.job_kinds := private.job_kind('complete_jobs', p_kind);
  problem text;
  applied integer;
begin
  if jsonb_typeof(p_results) is distinct from 'array' then
    raise exception using
      errcode = 'invalid_parameter_value',
      message = 'complete_jobs: p_results must be a JSON array',
      hint = 'Pass [{"id": ..., "outcome": "done" | "retry" | "failed", "error"?, "result"?, "retry_after_seconds"?, "count_attempt"?, "attempt"?}].';
  end if;
  select p.problem
  into problem
  from jsonb_array_elements(p_results) with ordinality as e (r, n)
  cross join lateral (select private.job_result_problem(e.r, (e.n - 1)::integer) as problem) as p
  where p.problem is not null
  order by e.n
  limit 1;
  if problem is not null then
    raise exception using errcode = 'invalid_parameter_value', message = 'complete_jobs: ' || problem;
  end if;

  with reported as (
    -- A job reported twice counts once, as first reported.
    select distinct on ((e.r ->> 'id')::bigint)
      (e.r ->> 'id')::bigint as id,
      e.r ->> 'outcome' as outcome,
      left(e.r ->> 'error', 1000) as error,
      e.r -> 'result' as result,
      (e.r ->> 'retry_after_seconds')::numeric::integer as retry_after_seconds,
      coalesce((e.r ->> 'count_attempt')::boolean, true) as count_attempt,
      (e.r ->> 'attempt')::numeric::integer as attempt
    from jsonb_array_elements(p_results) with ordinality as e (r, n)
    order by (e.r ->> 'id')::bigint, e.n
  ),
  -- Only jobs still leased count: not finished, and (when the result names its attempt) not
  -- claimed again by another worker since.
  mine as (
    select
      j.id,
      j.attempts,
      r.error,
      r.result,
      r.retry_after_seconds,
      r.count_attempt,
      case
        when r.outcome in ('done', 'failed') then r.outcome
        when r.count_attempt and j.attempts >= k.max_attempts then 'dead'
        else 'retry'
      end as fate
    from reported as r
    join private.jobs as j on j.id = r.id
    where j.kind = p_kind
      and j.lease_until is not null
      and (r.attempt is null or r.attempt = j.attempts)
    for update of j
  ),
  recorded as (
    update private.jobs as j
    set status = case when m.fate = 'retry' then j.status else m.fate end,
        attempts = case when m.count_attempt then j.attempts else j.attempts - 1 end,
        run_after = case
          when m.fate <> 'retry' then j.run_after
          when m.retry_after_seconds is not null then now() + make_interval(secs => m.retry_after_seconds)
          else now() + least(private.retry_backoff(j.attempts) * (1 + 0.25 * random()), interval '1 hour')
        end,
        lease_until = null,
        last_error = case m.fate
          when 'done' then j.last_error
          when 'failed' then coalesce(m.error, 'failed without a reason')
          when 'dead' then left(format('gave up after %s attempts: %s', j.attempts, coalesce(m.error, 'no error given')), 2000)
          else coalesce(m.error, j.last_error)
        end,
        result = coalesce(m.result, j.result),
        updated_at = now()
    from mine as m
    where j.id = m.id
    returning j.id
  )
  select count(*)::integer into applied from recorded;
  return applied;
end;
$$;
comment on function private.complete_jobs(text, jsonb) is
  'Records a batch of results for leased jobs of p_kind in one statement: done, failed, retry (backoff with jitter, or exactly retry_after_seconds; count_attempt false gives the attempt back); attempts used up dead-letter. Results for jobs no longer leased (or claimed again since their attempt) are ignored. Returns how many applied.';
revoke all on function private.complete_jobs(text, jsonb) from public, anon, authenticated, service_role;

create function private.hold_jobs(p_kind text, p_subject_id uuid, p_held boolean)
returns integer
language sql
set search_path = ''
as $$
  with changed as (
    update private.jobs as j
    set status = case when p_held then 'held' else 'ready' end,
        updated_at = now()
    where j.kind = p_kind
      and j.subject_id = p_subject_id
      and j.status = case when p_held then 'ready' else 'held' end
    returning j.id
  )
  select count(*)::integer from changed
$$;
comment on function private.hold_jobs(text, uuid, boolean) is
  'p_held: holds the ready jobs of p_kind for p_subject_id (a worker holding one may still report it; a retry stays held); else makes its held jobs ready again. Returns how many changed.';
revoke all on function private.hold_jobs(text, uuid, boolean) from public, anon, authenticated, service_role;

create function private.cancel_jobs(p_kind text, p_subject_id uuid, p_reason text)
returns setof private.jobs
language sql
set search_path = ''
as $$
  update private.jobs as j
  set status = 'failed',
      last_error = left(coalesce(p_reason, 'cancelled'), 2000),
      updated_at = now()
  where j.kind = p_kind
    and j.subject_id = p_subject_id
    and j.status in ('ready', 'held')
    and (j.lease_until is null or j.lease_until <= now())
  returning j.*
$$;
comment on function private.cancel_jobs(text, uuid, text) is
  'Fails the waiting jobs of p_kind for p_subject_id with p_reason; jobs a worker holds right now are left to its report. Returns the cancelled jobs.';
revoke all on function private.cancel_jobs(text, uuid, text) from public, anon, authenticated, service_role;

create function private.purge_jobs()
returns integer
language sql
set search_path = ''
as $$
  with purged as (
    delete from private.jobs as j
    where j.status in ('done', 'failed', 'dead')
      and j.updated_at < now() - interval '7 days'
    returning j.id
  )
  select count(*)::integer from purged
$$;
comment on function private.purge_jobs() is
  'Deletes jobs finished (done, failed, dead) more than 7 days ago; their keys may then be enqueued again.';
revoke all on function private.purge_jobs() from public, anon, authenticated, service_role;

select cron.schedule('beacon-purge-jobs', '41 3 * * *', 'select private.purge_jobs()');
