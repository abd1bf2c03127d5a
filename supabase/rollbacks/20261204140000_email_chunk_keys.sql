-- Back to chunk keys computed at every claim from the members left (20261125131000_email_claim.sql).

create or replace function private.claim_email_batch(
  worker text,
  max_chunks integer default 10,
  lease interval default '2 minutes'
)
returns table (
  delivery_id uuid,
  chunk_key text,
  idempotency_key text,
  attempt integer,
  user_id uuid,
  email_campaign_id uuid,
  email text,
  first_name text,
  last_name text,
  merge_data jsonb,
  subject text,
  content text,
  from_email text,
  from_name text,
  reply_to text
)
language plpgsql
set search_path = ''
as $$
#variable_conflict use_column
begin
  if worker is null or btrim(worker) = '' or length(worker) > 200 then
    raise exception using
      errcode = 'invalid_parameter_value',
      message = 'claim_email_batch: worker must name the worker, in 1 to 200 characters',
      hint = 'Use an id unique to this worker process, e.g. a random UUID.';
  end if;
  if max_chunks is null or max_chunks not between 1 and 100 then
    raise exception using
      errcode = 'invalid_parameter_value',
      message = format('claim_email_batch: max_chunks must be between 1 and 100, not %s', coalesce(max_chunks::text, 'null'));
  end if;
  if lease is null or lease < interval '1 second' or lease > interval '1 hour' then
    raise exception using
      errcode = 'invalid_parameter_value',
      message = format('claim_email_batch: lease must be between 1 second and 1 hour, not %s', coalesce(lease::text, 'null'));
  end if;

  return query
  with candidates as (
    select
      q.delivery_id,
      q.email_campaign_id,
      q.chunk,
      coalesce(q.lease_until, q.run_after) as ready_at,
      q.attempts
    from private.email_queue as q
    where not q.paused
      and coalesce(q.lease_until, q.run_after) <= now()
      and exists (
        select
        from public.email_campaigns as c
        where c.id = q.email_campaign_id
          and c.status = 'sending'
      )
    order by coalesce(q.lease_until, q.run_after), q.email_campaign_id, q.chunk
    limit max_chunks * 100
    for update of q skip locked
  ),
  -- Whole chunks only: every ready row of the chunk is among the rows this claim locked.
  chunks as (
    select k.email_campaign_id, k.chunk, k.ready_at
    from candidates as k
    group by k.email_campaign_id, k.chunk, k.ready_at
    having count(*) = (
      select count(*)
      from private.email_queue as q
      where q.email_campaign_id = k.email_campaign_id
        and q.chunk = k.chunk
        and not q.paused
        and coalesce(q.lease_until, q.run_after) = k.ready_at
    )
    order by k.ready_at, k.email_campaign_id, k.chunk
    limit max_chunks
  ),
  claimed as materialized (
    select
      k.delivery_id,
      k.email_campaign_id,
      k.chunk,
      k.ready_at,
      k.attempts,
      d.idempotency_key,
      d.user_id,
      d.email,
      d.first_name,
      d.last_name,
      d.merge_data,
      exists (
        select
        from public.email_suppressions as s
        where s.user_id = d.user_id
          and lower(s.email) = lower(d.email)
      ) as suppressed,
      k.attempts >= private.email_max_attempts() as exhausted
    from candidates as k
    join chunks as g
      on g.email_campaign_id = k.email_campaign_id
     and g.chunk = k.chunk
     and g.ready_at = k.ready_at
    join public.email_deliveries as d on d.id = k.delivery_id
  ),
  leased as (
    update private.email_queue as q
    set lease_until = now() + lease,
        leased_by = worker,
        attempts = q.attempts + 1
    from claimed as c
    where q.delivery_id = c.delivery_id
      and not c.suppressed
      and not c.exhausted
  ),
  dropped as (
    delete from private.email_queue as q
    using claimed as c
    where q.delivery_id = c.delivery_id
      and (c.suppressed or c.exhausted)
  ),
  closed as (
    update public.email_deliveries as d
    set status = case when c.suppressed then 'suppressed' else 'failed' end,
        last_error = case
          when c.suppressed then d.last_error
          else format('gave up after %s attempts: %s', c.attempts,
                      coalesce(d.last_error, 'no result came back before the lease ran out'))
        end
    from claimed as c
    where d.id = c.delivery_id
      and (c.suppressed or c.exhausted)
  ),
  keys as materialized (
    select
      c.email_campaign_id,
      c.chunk,
      c.ready_at,
      encode(sha256(convert_to(string_agg(c.idempotency_key, ',' order by c.idempotency_key), 'UTF8')), 'hex')
        as chunk_key
    from claimed as c
    where not c.suppressed
      and not c.exhausted
    group by c.email_campaign_id, c.chunk, c.ready_at
  )
  -- The leases were taken above; the attempt they count is the one about to be made.
  select
    c.delivery_id,
    k.chunk_key,
    c.idempotency_key,
    c.attempts + 1,
    c.user_id,
    c.email_campaign_id,
    c.email,
    c.first_name,
    c.last_name,
    c.merge_data,
    e.subject,
    e.content,
    e.from_email,
    e.from_name,
    e.reply_to
  from claimed as c
  join keys as k
    on k.email_campaign_id = c.email_campaign_id
   and k.chunk = c.chunk
   and k.ready_at = c.ready_at
  join public.email_campaigns as e on e.id = c.email_campaign_id
  where not c.suppressed
    and not c.exhausted
  order by k.chunk_key, c.email;
end;
$$;
comment on function private.claim_email_batch(text, integer, interval) is
  'Leases up to max_chunks whole ready chunks (<= 100 deliveries each) to worker with for update skip locked; returns what to send, with a stable chunk_key per chunk.';
revoke all on function private.claim_email_batch(text, integer, interval) from public, anon, authenticated, service_role;

alter table private.email_queue drop column chunk_key;
