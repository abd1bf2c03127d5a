-- Back to the email queue's own table, with its rows (as 20261204140000_email_chunk_keys left it):
-- one row per queued delivery of every waiting email job.
create table private.email_queue_rows as
select delivery_id, email_campaign_id, user_id, chunk, run_after, attempts, lease_until, leased_by, paused, chunk_key
from private.email_queue;

drop view private.email_queue;
drop function private.email_queue_write();
drop trigger delete_email_jobs on public.email_campaigns;
drop function private.delete_campaign_email_jobs();

create table private.email_queue (
  delivery_id uuid primary key references public.email_deliveries (id) on delete cascade,
  email_campaign_id uuid not null,
  user_id uuid not null,
  chunk integer not null,
  run_after timestamptz not null default now(),
  attempts integer not null default 0,
  lease_until timestamptz,
  leased_by text,
  paused boolean not null default false,
  chunk_key text,
  constraint email_queue_attempts_check check (attempts >= 0),
  constraint email_queue_chunk_check check (chunk >= 0),
  constraint email_queue_chunk_key_check check (chunk_key ~ '^[0-9a-f]{64}$'),
  constraint email_queue_lease_check check ((lease_until is null) = (leased_by is null)),
  constraint email_queue_leased_by_check check (length(leased_by) between 1 and 200)
);
comment on table private.email_queue is 'Deliveries waiting to be sent, in chunks of at most 100 per campaign; claimed under a lease, retried with backoff.';
comment on column private.email_queue.chunk is 'The delivery''s chunk within its campaign: the unit of claim and of one provider batch.';
comment on column private.email_queue.run_after is 'Not claimed before this time (retry backoff).';
comment on column private.email_queue.attempts is 'Claims so far; the fifth failed attempt dead-letters the delivery.';
comment on column private.email_queue.lease_until is 'Set while a worker holds the row; once past, the row can be claimed again.';
comment on column private.email_queue.paused is 'The campaign is paused: the row waits.';
comment on column private.email_queue.chunk_key is 'The chunk''s Idempotency-Key, stored at its first claim and reused by every later one; null before.';
create index email_queue_email_campaign_id_chunk_idx on private.email_queue (email_campaign_id, chunk);
create index email_queue_ready_idx on private.email_queue ((coalesce(lease_until, run_after)), email_campaign_id, chunk)
  where not paused;
revoke all on table private.email_queue from public, anon, authenticated, service_role;

insert into private.email_queue (delivery_id, email_campaign_id, user_id, chunk, run_after, attempts, lease_until,
                                 leased_by, paused, chunk_key)
select q.delivery_id, q.email_campaign_id, q.user_id, q.chunk, q.run_after, q.attempts,
       case when q.leased_by is not null then q.lease_until end, q.leased_by, q.paused, q.chunk_key
from private.email_queue_rows as q
where exists (select from public.email_deliveries as d where d.id = q.delivery_id);
drop table private.email_queue_rows;

delete from private.jobs where kind = 'email';
-- The kind stays registered (a row of job_kinds, like the other kinds' rollbacks leave theirs).
update private.job_kinds set dead_handler = null where kind = 'email';
drop function private.settle_dead_email(bigint[]);

create or replace function private.fan_out_email_campaign(email_campaign_id uuid) RETURNS integer
    LANGUAGE plpgsql
    SET search_path TO ''
    SET work_mem TO '64MB'
    AS $$
declare
  queued integer;
  problem text;
begin
  -- The list was checked when it was saved; one that reached the table some other way
  -- fails here, with the validator's reason, before anything is sent.
  select private.recipient_list_problem(c.recipient_list)
  into problem
  from public.email_campaigns as c
  where c.id = fan_out_email_campaign.email_campaign_id;
  if problem is not null then
    raise exception using
      errcode = 'check_violation',
      message = problem,
      hint = 'Fix the recipient list (it is frozen once sending starts: create a new campaign).';
  end if;

  with recipients as materialized (
    select
      gen_random_uuid() as delivery_id,
      c.id as email_campaign_id,
      c.user_id,
      r.*,
      exists (
        select
        from public.email_suppressions as s
        where s.user_id = c.user_id and lower(s.email) = lower(r.email)
      ) as suppressed
    from public.email_campaigns as c
    cross join lateral private.resolve_email_recipients(c.user_id, c.recipient_list) as r
    where c.id = fan_out_email_campaign.email_campaign_id
  ),
  deliveries as (
    insert into public.email_deliveries (
      id, user_id, email_campaign_id, lead_id, email, first_name, last_name, merge_data, status,
      idempotency_key
    )
    select
      r.delivery_id, r.user_id, r.email_campaign_id, r.lead_id, r.email, r.first_name, r.last_name,
      r.merge_data, case when r.suppressed then 'suppressed' else 'queued' end, r.delivery_id::text
    from recipients as r
  )
  insert into private.email_queue (delivery_id, email_campaign_id, user_id, chunk)
  select
    r.delivery_id,
    r.email_campaign_id,
    r.user_id,
    ((row_number() over (order by lower(r.email))) - 1) / 100
  from recipients as r
  where not r.suppressed;
  get diagnostics queued = row_count;
  return queued;
end;
$$;
comment on function private.fan_out_email_campaign(email_campaign_id uuid) IS 'Makes the deliveries and queue rows of an email campaign that starts sending, in chunks of 100; returns how many were queued.';

create or replace function private.apply_email_campaign_status() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  if old.status = 'scheduled' and new.status = 'sending' then
    perform private.fan_out_email_campaign(new.id);
  elsif new.status = 'paused' then
    update private.email_queue as q
    set paused = true
    where q.email_campaign_id = new.id
      and not q.paused;
  elsif old.status = 'paused' and new.status = 'sending' then
    update private.email_queue as q
    set paused = false
    where q.email_campaign_id = new.id
      and q.paused;
  elsif new.status = 'cancelled' then
    with cancelled as (
      delete from private.email_queue as q
      where q.email_campaign_id = new.id
        and (q.lease_until is null or q.lease_until <= now())
      returning q.delivery_id
    )
    update public.email_deliveries as d
    set status = 'cancelled'
    from cancelled as c
    where d.id = c.delivery_id
      and d.status = 'queued';
  end if;
  return null;
end;
$$;
comment on function private.apply_email_campaign_status() IS 'Trigger: fans a campaign out when it starts sending; pauses, resumes or cancels its queued deliveries with it.';

create or replace function private.claim_email_batch(worker text, max_chunks integer DEFAULT 10, lease interval DEFAULT '00:02:00'::interval) RETURNS TABLE(delivery_id uuid, chunk_key text, idempotency_key text, attempt integer, user_id uuid, email_campaign_id uuid, email text, first_name text, last_name text, merge_data jsonb, subject text, content text, from_email text, from_name text, reply_to text)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
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
      q.attempts,
      q.chunk_key as stored_key
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
      k.stored_key,
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
  -- The chunk's key: the one stored at its first claim, else (this is the first claim) the
  -- SHA-256 of its members' keys, stored below with the lease.
  keys as materialized (
    select
      c.email_campaign_id,
      c.chunk,
      c.ready_at,
      coalesce(c.stored_key, '') as stored_key,
      coalesce(
        c.stored_key,
        encode(sha256(convert_to(string_agg(c.idempotency_key, ',' order by c.idempotency_key), 'UTF8')), 'hex')
      ) as chunk_key
    from claimed as c
    where not c.suppressed
      and not c.exhausted
    group by c.email_campaign_id, c.chunk, c.ready_at, c.stored_key
  ),
  leased as (
    update private.email_queue as q
    set lease_until = now() + lease,
        leased_by = worker,
        attempts = q.attempts + 1,
        chunk_key = k.chunk_key
    from claimed as c
    join keys as k
      on k.email_campaign_id = c.email_campaign_id
     and k.chunk = c.chunk
     and k.ready_at = c.ready_at
     and k.stored_key = coalesce(c.stored_key, '')
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
   and k.stored_key = coalesce(c.stored_key, '')
  join public.email_campaigns as e on e.id = c.email_campaign_id
  where not c.suppressed
    and not c.exhausted
  order by k.chunk_key, c.email;
end;
$$;
comment on function private.claim_email_batch(worker text, max_chunks integer, lease interval) IS 'Leases up to max_chunks whole ready chunks (<= 100 deliveries each) to worker with for update skip locked; returns what to send; a chunk''s key and members are fixed at its first claim.';

create or replace function private.complete_email_batch(worker text, results jsonb) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  problem text;
  counts jsonb;
begin
  if jsonb_typeof(results) is distinct from 'array' then
    raise exception using
      errcode = 'invalid_parameter_value',
      message = 'complete_email_batch: results must be a JSON array',
      hint = 'Pass [{"delivery_id": ..., "outcome": "sent" | "retry" | "failed", "provider_message_id"?, "error"?, "retry_after_seconds"?}].';
  end if;

  select p.problem
  into problem
  from jsonb_array_elements(results) with ordinality as e (r, n)
  cross join lateral (
    select coalesce(
      private.queue_result_problem(e.r, (e.n - 1)::integer, 'delivery_id', 'delivery'),
      case when jsonb_typeof(e.r -> 'provider_message_id') not in ('string', 'null') then
        format('results[%s].provider_message_id: expected a string, not %s', e.n - 1, e.r -> 'provider_message_id')
      end
    ) as problem
  ) as p
  where p.problem is not null
  order by e.n
  limit 1;
  if problem is not null then
    raise exception using errcode = 'invalid_parameter_value', message = 'complete_email_batch: ' || problem;
  end if;

  with reported as (
    -- A delivery reported twice counts once, as first reported.
    select distinct on ((e.r ->> 'delivery_id')::uuid)
      (e.r ->> 'delivery_id')::uuid as delivery_id,
      e.r ->> 'outcome' as outcome,
      e.r ->> 'provider_message_id' as provider_message_id,
      left(e.r ->> 'error', 1000) as error,
      (e.r ->> 'retry_after_seconds')::numeric::integer as retry_after_seconds
    from jsonb_array_elements(results) with ordinality as e (r, n)
    order by (e.r ->> 'delivery_id')::uuid, e.n
  ),
  mine as (
    select
      q.delivery_id,
      q.email_campaign_id,
      q.chunk,
      q.attempts,
      r.provider_message_id,
      r.error,
      r.retry_after_seconds,
      case
        when r.outcome = 'sent' then 'sent'
        when r.outcome = 'failed' then 'failed'
        when c.status = 'cancelled' then 'cancelled'
        when q.attempts >= private.email_max_attempts() then 'dead'
        else 'retry'
      end as fate
    from reported as r
    join private.email_queue as q on q.delivery_id = r.delivery_id
    join public.email_campaigns as c on c.id = q.email_campaign_id
    where q.leased_by = worker
    for update of q
  ),
  jitter as (
    select m.email_campaign_id, m.chunk, 1 + 0.25 * random() as factor
    from mine as m
    where m.fate = 'retry'
    group by m.email_campaign_id, m.chunk
  ),
  retried as (
    update private.email_queue as q
    set run_after = now() + least(
          greatest(make_interval(secs => coalesce(m.retry_after_seconds, 0)), private.retry_backoff(m.attempts))
            * j.factor,
          interval '1 hour'),
        lease_until = null,
        leased_by = null
    from mine as m
    join jitter as j on j.email_campaign_id = m.email_campaign_id and j.chunk = m.chunk
    where q.delivery_id = m.delivery_id
      and m.fate = 'retry'
  ),
  removed as (
    delete from private.email_queue as q
    using mine as m
    where q.delivery_id = m.delivery_id
      and m.fate <> 'retry'
  ),
  recorded as (
    update public.email_deliveries as d
    set status = case m.fate
          -- A provider event may have got here first (delivered before the worker reported).
          when 'sent' then case when d.status in ('queued', 'failed') then 'sent' else d.status end
          when 'retry' then d.status
          when 'cancelled' then 'cancelled'
          else 'failed'
        end,
        sent_at = case when m.fate = 'sent' then coalesce(d.sent_at, now()) else d.sent_at end,
        provider_message_id = case when m.fate = 'sent' then coalesce(m.provider_message_id, d.provider_message_id)
                                   else d.provider_message_id end,
        last_error = case m.fate
          when 'sent' then d.last_error
          when 'failed' then coalesce(m.error, 'the provider refused the message')
          when 'dead' then format('gave up after %s attempts: %s', m.attempts, coalesce(m.error, 'no error given'))
          else coalesce(m.error, d.last_error)
        end,
        attempts = m.attempts
    from mine as m
    where d.id = m.delivery_id
  )
  select jsonb_build_object(
    'sent', count(*) filter (where m.fate = 'sent'),
    'retried', count(*) filter (where m.fate = 'retry'),
    'failed', count(*) filter (where m.fate = 'failed'),
    'dead_lettered', count(*) filter (where m.fate = 'dead'),
    'cancelled', count(*) filter (where m.fate = 'cancelled'),
    'ignored', (select count(*) from reported) - count(*)
  )
  into counts
  from mine as m;
  return counts;
end;
$$;
comment on function private.complete_email_batch(worker text, results jsonb) IS 'Records a worker''s results (sent, retry, failed) for the deliveries it holds; retries back off, the fifth failure dead-letters. Returns counts.';

create or replace function private.email_tick() RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  step text;
  ids uuid[];
  unit_id uuid;
  problem text;
  counts jsonb := '{}'::jsonb;
  done integer;
  failed integer := 0;
  retried integer;
  ready boolean;
  request_id bigint;
begin
  foreach step in array array['start', 'cancel', 'finish', 'count'] loop
    ids := private.email_tick_units(step);
    done := 0;
    if cardinality(ids) > 0 then
      begin
        done := private.email_tick_run(step, ids);
      exception when others then
        -- One of them fails the batch: each on its own, so it fails alone.
        foreach unit_id in array ids loop
          begin
            done := done + private.email_tick_run(step, array[unit_id]);
          exception when others then
            get stacked diagnostics problem = message_text;
            perform private.fail_email_campaign(unit_id, step, problem);
            if step = 'start' then
              failed := failed + 1;
            end if;
          end;
        end loop;
      end;
    end if;
    counts := counts || jsonb_build_object(step, done);
  end loop;

  retried := private.retry_email_unsubscribe_effects(100);

  ready := exists (
    select
    from private.email_queue as q
    where not q.paused
      and coalesce(q.lease_until, q.run_after) <= now()
  );
  if ready then
    request_id := private.call_function('/dispatch');
  end if;

  return jsonb_build_object(
    'started', counts -> 'start',
    'failed', failed,
    'cancelled', counts -> 'cancel',
    'finished', counts -> 'finish',
    'refreshed', counts -> 'count',
    'effects_retried', retried,
    'ready', ready,
    'dispatch_requested', request_id is not null
  );
end;
$$;
comment on function private.email_tick() IS 'Every minute (pg_cron beacon-email-tick): starts and fans out due campaigns, finishes done ones, refreshes metrics, retries unsubscribes'' side effects, wakes dispatch; a campaign that fails a step fails alone, with error_message.';

create or replace function private.email_tick_run(step text, ids uuid[]) RETURNS integer
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  moved integer := 0;
begin
  if step = 'start' then
    with due as (
      select c.id
      from public.email_campaigns as c
      where c.id = any (ids)
        and c.status = 'scheduled'
        and c.send_at <= now()
      order by c.send_at
      for update skip locked
    )
    update public.email_campaigns as c
    set status = 'sending'
    from due
    where c.id = due.id;
    get diagnostics moved = row_count;
  elsif step = 'cancel' then
    -- A cancellation starts no email_event workflow, so their trigger is skipped.
    perform set_config('beacon.email_event_workflows', 'deferred', true);
    with abandoned as (
      delete from private.email_queue as q
      using public.email_campaigns as c
      where c.id = any (ids)
        and c.status = 'cancelled'
        and q.email_campaign_id = c.id
        and q.lease_until <= now()
      returning q.delivery_id
    )
    update public.email_deliveries as d
    set status = 'cancelled'
    from abandoned as a
    where d.id = a.delivery_id
      and d.status = 'queued';
    get diagnostics moved = row_count;
    perform set_config('beacon.email_event_workflows', '', true);
  elsif step = 'finish' then
    with finishing as (
      select c.id, private.email_campaign_metrics(c.id) as metrics
      from public.email_campaigns as c
      where c.id = any (ids)
        and c.status = 'sending'
        and not exists (select from private.email_queue as q where q.email_campaign_id = c.id)
      for update of c skip locked
    )
    update public.email_campaigns as c
    set status = case
          when (f.metrics ->> 'failed')::integer > 0 and (f.metrics ->> 'sent')::integer = 0 then 'failed'
          else 'sent'
        end,
        metrics = f.metrics
    from finishing as f
    where c.id = f.id;
    get diagnostics moved = row_count;
  elsif step = 'count' then
    -- As private.refresh_email_metrics: a note is deleted by the statement that recounts.
    with noted as (
      delete from private.email_metrics_stale as n
      using public.email_campaigns as c
      where c.id = n.email_campaign_id
        and c.id = any (ids)
        and c.status not in ('draft', 'scheduled')
      returning n.email_campaign_id
    ),
    refreshed as (
      update public.email_campaigns as c
      set metrics = private.email_campaign_metrics(c.id)
      where c.id in (select n.email_campaign_id from noted as n)
      returning 1
    )
    select count(*)::integer into moved from refreshed;
  else
    raise exception using
      errcode = 'invalid_parameter_value',
      message = format('email_tick_run: unknown step %s', coalesce(quote_literal(step), 'null')),
      hint = 'step is one of start, cancel, finish, count.';
  end if;
  return moved;
end;
$$;
comment on function private.email_tick_run(step text, ids uuid[]) IS 'Email tick: runs one step (start, cancel, finish, count) set-based on the given campaigns; returns how many rows it moved.';

create or replace function private.email_tick_units(step text) RETURNS uuid[]
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
declare
  ids uuid[];
begin
  if step = 'start' then
    select array_agg(c.id order by c.send_at)
    into ids
    from public.email_campaigns as c
    where c.status = 'scheduled'
      and c.send_at <= now();
  elsif step = 'cancel' then
    select array_agg(distinct q.email_campaign_id)
    into ids
    from private.email_queue as q
    join public.email_campaigns as c on c.id = q.email_campaign_id
    where c.status = 'cancelled'
      and q.lease_until <= now();
  elsif step = 'finish' then
    select array_agg(c.id)
    into ids
    from public.email_campaigns as c
    where c.status = 'sending'
      and not exists (select from private.email_queue as q where q.email_campaign_id = c.id);
  elsif step = 'count' then
    select array_agg(distinct n.email_campaign_id)
    into ids
    from private.email_metrics_stale as n
    join public.email_campaigns as c on c.id = n.email_campaign_id
    where c.status not in ('draft', 'scheduled');
  else
    raise exception using
      errcode = 'invalid_parameter_value',
      message = format('email_tick_units: unknown step %s', coalesce(quote_literal(step), 'null')),
      hint = 'step is one of start, cancel, finish, count.';
  end if;
  return coalesce(ids, '{}');
end;
$$;
comment on function private.email_tick_units(step text) IS 'Email tick: the campaigns a step (start, cancel, finish, count) concerns now.';
