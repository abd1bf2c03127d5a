-- Rollback of 20261213100000_email_claim_without_content: claim_email_batch returns the
-- campaign's subject, body and sender on every row again (as
-- 20261209120000_email_deliveries_at_first_claim left it); email_campaign_content goes.

drop function private.email_campaign_content(uuid[]);
drop function private.claim_email_batch(text, integer, interval);

create function private.claim_email_batch(
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
declare
  claimed private.jobs[];
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

  -- Whole chunks, leased (a chunk out of attempts is dead-lettered by the claim and its
  -- deliveries failed by private.settle_dead_email). Paused and cancelled campaigns' chunks
  -- are held, so never claimed.
  select coalesce(array_agg(c), '{}')
  into claimed
  from private.claim_jobs('email', max_chunks, worker, lease) as c;
  if cardinality(claimed) = 0 then
    return;
  end if;
  -- A chunk claimed for the first time writes its deliveries now (membership fixed: the
  -- recipients fan-out resolved); the statement below reads them like any other chunk's.
  perform private.write_email_chunk_deliveries(array(select c.id from unnest(claimed) as c where c.payload ? 'recipients'));

  return query
  with jobs as (
    -- What the statement needs of each job, not its payload: grouping by the payload compared
    -- whole payloads (a third of a claim's time).
    select
      c.id,
      c.attempts,
      c.payload -> 'members' as members,
      jsonb_array_length(c.payload -> 'members') as member_count,
      c.payload ->> 'chunk_key' as stored_key
    from unnest(claimed) as c
  ),
  members as materialized (
    select
      j.id as job_id,
      j.attempts,
      d.id as delivery_id,
      d.idempotency_key,
      d.user_id,
      d.email_campaign_id,
      d.email,
      d.first_name,
      d.last_name,
      d.merge_data,
      exists (
        select
        from public.email_suppressions as s
        where s.user_id = d.user_id
          and lower(s.email) = lower(d.email)
      ) as suppressed
    from jobs as j
    cross join lateral jsonb_array_elements_text(j.members) as m (id)
    join public.email_deliveries as d on d.id = m.id::uuid
  ),
  -- The chunk's key: the one stored at its first claim, else (this is the first claim) the
  -- SHA-256 of its members' keys, stored below. Members suppressed since leave the chunk.
  keys as materialized (
    select
      j.id as job_id,
      j.stored_key,
      coalesce(
        j.stored_key,
        encode(sha256(convert_to(
          string_agg(m.idempotency_key, ',' order by m.idempotency_key) filter (where not m.suppressed), 'UTF8')), 'hex')
      ) as chunk_key,
      coalesce(jsonb_agg(m.delivery_id) filter (where not m.suppressed), '[]') as kept,
      count(m.delivery_id) filter (where not m.suppressed) <> j.member_count as shrunk
    from jobs as j
    left join members as m on m.job_id = j.id
    group by j.id, j.stored_key, j.member_count
  ),
  noted as (
    update private.jobs as j
    set payload = j.payload || jsonb_strip_nulls(jsonb_build_object('chunk_key', k.chunk_key, 'members', k.kept)),
        -- Nobody left to send to: the chunk is done.
        status = case when k.kept = '[]' then 'done' else j.status end,
        lease_until = case when k.kept = '[]' then null else j.lease_until end,
        leased_by = case when k.kept = '[]' then null else j.leased_by end
    from keys as k
    where j.id = k.job_id
      and (k.stored_key is null or k.shrunk)
  ),
  suppressed as (
    update public.email_deliveries as d
    set status = 'suppressed'
    from members as m
    where d.id = m.delivery_id
      and m.suppressed
  )
  select
    m.delivery_id,
    k.chunk_key,
    m.idempotency_key,
    m.attempts,
    m.user_id,
    m.email_campaign_id,
    m.email,
    m.first_name,
    m.last_name,
    m.merge_data,
    e.subject,
    e.content,
    e.from_email,
    e.from_name,
    e.reply_to
  from members as m
  join keys as k on k.job_id = m.job_id
  join public.email_campaigns as e on e.id = m.email_campaign_id
  where not m.suppressed
  order by k.chunk_key, m.email;
end;
$$;
comment on function private.claim_email_batch(text, integer, interval) is
  'Leases up to max_chunks ready chunks (jobs of kind email, <= 100 deliveries each, through private.claim_jobs) to worker; writes the deliveries of chunks claimed for the first time; returns what to send; a chunk''s key and members are fixed at its first claim (members suppressed since are skipped).';
revoke all on function private.claim_email_batch(text, integer, interval) from public, anon, authenticated, service_role;
