-- Back to claim_jobs calling the dead_handler on all dead jobs at once, unguarded (as
-- 20261209100000_claim_jobs_due_owners made it).
create or replace function private.claim_jobs(p_kind text, p_limit integer, p_worker text default null, p_lease interval default null)
returns setof private.jobs
language plpgsql
set search_path = ''
as $$
declare
  k private.job_kinds := private.job_kind('claim_jobs', p_kind);
  lease interval := coalesce(p_lease, make_interval(secs => k.lease_seconds));
  leased private.jobs[];
  dead_ids bigint[];
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
  if lease < interval '1 second' or lease > interval '1 hour' then
    raise exception using
      errcode = 'invalid_parameter_value',
      message = format('claim_jobs: p_lease must be between 1 second and 1 hour, not %s', lease);
  end if;

  -- The owners with work to hand out now, each with its first due, unleased job (in claim
  -- order: run_after, then id). A loose index scan visits each owner with ready jobs once; one
  -- more probe per owner, bounded by run_after <= now(), skips the jobs leased right now. An
  -- owner whose ready jobs are all leased or not yet due has none, and takes no place below.
  with recursive owners (user_id) as (
    (
      select j.user_id
      from private.jobs as j
      where j.kind = p_kind
        and j.status = 'ready'
      -- run_after too: only jobs_ready_idx gives this order (by user_id alone, jobs_user_id_idx
      -- would do, reading every kind's jobs).
      order by j.user_id, j.run_after
      limit 1
    )
    union all
    select n.user_id
    from owners as o
    cross join lateral (
      select j.user_id
      from private.jobs as j
      where j.kind = p_kind
        and j.status = 'ready'
        and j.user_id > o.user_id
      order by j.user_id, j.run_after
      limit 1
    ) as n
  ),
  firsts as (
    select o.user_id, f.run_after, f.id
    from owners as o
    cross join lateral (
      select j.run_after, j.id
      from private.jobs as j
      where j.kind = p_kind
        and j.status = 'ready'
        and j.user_id = o.user_id
        and j.run_after <= now()
        and (j.lease_until is null or j.lease_until <= now())
      order by j.run_after, j.id
      limit 1
    ) as f
  ),
  -- Longest-waiting owners first, each an equal share of the batch.
  chosen as (
    select f.user_id, f.run_after, f.id
    from firsts as f
    order by f.run_after, f.id
    limit p_limit
  ),
  share as (
    select greatest(1, p_limit / greatest(count(*), 1))::integer as per_owner
    from chosen
  ),
  -- Each owner's share from its first claimable job on: the leased ones before it are not read again.
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
        and (j.run_after, j.id) >= (c.run_after, c.id)
        and j.run_after <= now()
        and (j.lease_until is null or j.lease_until <= now())
      order by j.run_after, j.id
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
    returning j.id
  ),
  taken as (
    update private.jobs as j
    set lease_until = now() + lease,
        leased_by = p_worker,
        attempts = j.attempts + 1,
        updated_at = now()
    from picked as p
    where j.id = p.id
      and p.attempts < k.max_attempts
    returning j.*
  )
  select
    (select coalesce(array_agg(t::private.jobs order by t.run_after, t.id), '{}') from taken as t),
    (select coalesce(array_agg(d.id order by d.id), '{}') from dead as d)
  into leased, dead_ids;

  if cardinality(dead_ids) > 0 and k.dead_handler is not null then
    execute format('select %I.%I($1)', split_part(k.dead_handler, '.', 1), split_part(k.dead_handler, '.', 2))
    using dead_ids;
  end if;

  return query select * from unnest(leased);
end;
$$;

comment on function private.claim_jobs(text, integer, text, interval) is
  'Leases up to p_limit due ready jobs of p_kind (for update skip locked), an equal share per owner with due, unleased jobs, longest-waiting first (by each owner''s first claimable job), to p_worker (if named) for p_lease (default: the kind''s lease_seconds); dead-letters those claimed again with no attempt left and hands their ids to the kind''s dead_handler. Returns the leased jobs (attempts counts this one).';

drop function private.run_dead_handler(text, bigint[]);
