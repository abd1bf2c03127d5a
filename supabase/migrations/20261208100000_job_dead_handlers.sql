-- A job that private.claim_jobs dead-letters (its last lease ran out with no report) goes back
-- to its kind: private.job_kinds.dead_handler names a set-based function that the claim calls
-- with the ids of the jobs it just dead-lettered, so the job's subject does not stay in flight
-- forever (a social target stuck in `publishing`, a delivery stuck `queued`). Jobs that a
-- report dead-letters (private.complete_jobs) need none: the kind's own complete function,
-- which made the report, settles them.
--
-- claim_jobs also takes the caller's lease (the email and webhook claims take one from their
-- worker), and breaks ties between jobs due at the same time by id, so a producer's jobs go
-- out in the order it enqueued them.

-- Named as text (schema.function): a reg* column would stop pg_upgrade.
alter table private.job_kinds
  add column dead_handler text,
  add constraint job_kinds_dead_handler_check check (dead_handler ~ '^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$');
comment on column private.job_kinds.dead_handler is
  'The function (schema.name, taking job_ids bigint[]) that settles the subjects of jobs private.claim_jobs dead-lettered (their last lease ran out with no report); null: nothing to settle.';

-- Claims read the ready jobs of one owner by due time, then by id (enqueue order).
drop index private.jobs_ready_idx;
create index jobs_ready_idx on private.jobs (kind, user_id, run_after, id) where status = 'ready';

drop function private.claim_jobs(text, integer, text);

create function private.claim_jobs(p_kind text, p_limit integer, p_worker text default null, p_lease interval default null)
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
  'Leases up to p_limit due ready jobs of p_kind (for update skip locked), an equal share per owner, longest-waiting owners first (then by run_after, id), to p_worker (if named) for p_lease (default: the kind''s lease_seconds); dead-letters those claimed again with no attempt left and hands their ids to the kind''s dead_handler. Returns the leased jobs (attempts counts this one).';
revoke all on function private.claim_jobs(text, integer, text, interval) from public, anon, authenticated, service_role;

-- Social publishing: a target whose job was dead-lettered by a claim fails with the reason,
-- and its content settles (published or failed once every target has ended).
create function private.settle_dead_social_publish(p_job_ids bigint[])
returns integer
language plpgsql
set search_path = ''
as $$
declare
  touched uuid[];
  failed integer;
begin
  with ended as (
    update public.social_posts as t
    set status = 'failed',
        error = left(coalesce(j.last_error, 'gave up: no result came back before the lease ran out'), 2000),
        attempts = j.attempts
    from private.jobs as j
    where j.id = any (p_job_ids)
      and j.kind = 'social_publish'
      and j.status = 'dead'
      and t.id = j.subject_id
      and t.status = 'publishing'
    returning t.content_id
  )
  select array_agg(distinct e.content_id), count(*)::integer into touched, failed from ended as e;
  perform private.settle_social_content(touched);
  return failed;
end;
$$;
comment on function private.settle_dead_social_publish(bigint[]) is
  'dead_handler of kind social_publish: the targets of jobs a claim dead-lettered fail with the job''s last error, and their content settles. Returns how many targets failed.';
revoke all on function private.settle_dead_social_publish(bigint[]) from public, anon, authenticated, service_role;

update private.job_kinds
set dead_handler = 'private.settle_dead_social_publish'
where kind = 'social_publish';
