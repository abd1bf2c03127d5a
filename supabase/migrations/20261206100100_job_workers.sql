-- Workers name themselves: a claim records its worker in private.jobs.leased_by, and a
-- report that names its worker applies only to the jobs leased to it. So a worker whose
-- lease ran out and was taken over cannot report on its successor's jobs, even without
-- naming the attempt; the email and webhook queues' "results count only from the lease
-- holder" maps onto it. Both parameters are optional: calls without them work as before.

alter table private.jobs
  add column leased_by text,
  add constraint jobs_leased_by_check check (length(leased_by) between 1 and 200),
  add constraint jobs_leased_by_lease_check check (leased_by is null or lease_until is not null);
comment on column private.jobs.leased_by is 'The worker that named itself when it claimed the job; null when not leased or unnamed.';

drop function private.claim_jobs(text, integer);
drop function private.complete_jobs(text, jsonb);

create function private.claim_jobs(p_kind text, p_limit integer, p_worker text default null)
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
  if p_worker is not null and (btrim(p_worker) = '' or length(p_worker) > 200) then
    raise exception using
      errcode = 'invalid_parameter_value',
      message = 'claim_jobs: p_worker must name the worker, in 1 to 200 characters (or be null)',
      hint = 'Use an id unique to this worker process, e.g. a random UUID.';
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
        leased_by = null,
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
        leased_by = p_worker,
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
comment on function private.claim_jobs(text, integer, text) is
  'Leases up to p_limit due ready jobs of p_kind (for update skip locked), an equal share per owner, longest-waiting owners first, leased to p_worker (if named); dead-letters those claimed again with no attempt left. Returns the leased jobs (attempts counts this one).';
revoke all on function private.claim_jobs(text, integer, text) from public, anon, authenticated, service_role;

create function private.complete_jobs(p_kind text, p_results jsonb, p_worker text default null)
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
  -- Only jobs still leased count: not finished, leased to p_worker (when named), and (when the
  -- result names its attempt) not claimed again by another worker since.
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
      and (p_worker is null or j.leased_by = p_worker)
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
        leased_by = null,
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
comment on function private.complete_jobs(text, jsonb, text) is
  'Records a batch of results for leased jobs of p_kind in one statement: done, failed, retry (backoff with jitter, or exactly retry_after_seconds; count_attempt false gives the attempt back); attempts used up dead-letter. Results for jobs no longer leased, leased to another worker than p_worker (when named), or claimed again since their attempt, are ignored. Returns how many applied.';
revoke all on function private.complete_jobs(text, jsonb, text) from public, anon, authenticated, service_role;

-- A cancelled job's expired lease goes with it.
create or replace function private.cancel_jobs(p_kind text, p_subject_id uuid, p_reason text)
returns setof private.jobs
language sql
set search_path = ''
as $$
  update private.jobs as j
  set status = 'failed',
      lease_until = null,
      leased_by = null,
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
