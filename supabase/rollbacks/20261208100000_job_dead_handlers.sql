-- Back to claim_jobs without a lease argument or dead handlers (as 20261206100100_job_workers made it).
drop function private.settle_dead_social_publish(bigint[]);
drop function private.claim_jobs(text, integer, text, interval);

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

drop index private.jobs_ready_idx;
create index jobs_ready_idx on private.jobs (kind, user_id, run_after) where status = 'ready';

alter table private.job_kinds drop column dead_handler;
