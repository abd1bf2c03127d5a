-- One owner's dead job cannot stop every owner's claims (issue 8 §1). private.claim_jobs hands
-- the ids of the jobs it dead-letters to the kind's dead_handler; it called the handler on all
-- of them with no exception block, so a handler that failed on one owner's job (a subject the
-- handler cannot settle) rolled the whole claim back: that job stayed ready, the next claim
-- dead-lettered it again and failed again, and no owner of the kind got work any more.
--
-- private.run_dead_handler calls the handler on the whole set (the common case, one call); when
-- that fails, it calls it once per job, each in a subtransaction of its own, so the others are
-- settled. A job whose handler fails stays dead (no claim picks it again) and its last_error
-- says why its subject was not settled. The claim returns the jobs it leased either way.

create function private.run_dead_handler(p_handler text, p_job_ids bigint[])
returns integer
language plpgsql
set search_path = ''
as $$
declare
  call text := format('select %I.%I($1)', split_part(p_handler, '.', 1), split_part(p_handler, '.', 2));
  job_id bigint;
  failed integer := 0;
begin
  begin
    execute call using p_job_ids;
    return 0;
  exception when others then
    raise warning 'run_dead_handler: % failed on % jobs: % (%); calling it one job at a time',
      p_handler, cardinality(p_job_ids), sqlerrm, sqlstate;
  end;
  foreach job_id in array p_job_ids loop
    begin
      execute call using array[job_id];
    exception when others then
      failed := failed + 1;
      update private.jobs as j
      set last_error = left(format('%s; its subject was not settled: %s failed: %s (%s)',
            coalesce(j.last_error, 'dead'), p_handler, sqlerrm, sqlstate), 2000),
          updated_at = now()
      where j.id = job_id;
    end;
  end loop;
  return failed;
end;
$$;
comment on function private.run_dead_handler(text, bigint[]) is
  'Calls a kind''s dead_handler (schema.name) on the jobs a claim dead-lettered: on all at once, and when that fails, on each in its own subtransaction; a job whose handler fails keeps the reason in last_error. Returns how many failed.';
revoke all on function private.run_dead_handler(text, bigint[]) from public, anon, authenticated, service_role;

-- As in 20261209100000_claim_jobs_due_owners, but the dead jobs go through private.run_dead_handler.
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
    perform private.run_dead_handler(k.dead_handler, dead_ids);
  end if;

  return query select * from unnest(leased);
end;
$$;

comment on function private.claim_jobs(text, integer, text, interval) is
  'Leases up to p_limit due ready jobs of p_kind (for update skip locked), an equal share per owner with due, unleased jobs, longest-waiting first (by each owner''s first claimable job), to p_worker (if named) for p_lease (default: the kind''s lease_seconds); dead-letters those claimed again with no attempt left and hands their ids to the kind''s dead_handler (private.run_dead_handler: one job''s failure stops neither the others nor the claim). Returns the leased jobs (attempts counts this one).';
