-- Email deliveries move onto the one queue (docs/queue.md, issue 10): a chunk of at most 100
-- deliveries of one campaign is one job of kind 'email' in private.jobs, and
-- private.email_queue becomes a view with one row per queued delivery, in the columns it had.
--
--   email_queue (one row per delivery)    private.jobs (one row per chunk, kind 'email')
--   delivery_id                           payload -> 'members' (the chunk's queued deliveries)
--   email_campaign_id                     subject_id (pause, resume and cancel act on it)
--   chunk                                 payload ->> 'chunk'; key '<campaign id>:<chunk>'
--   chunk_key                             payload ->> 'chunk_key' (fixed at the first claim)
--   run_after, attempts, lease_until,     the job's own columns
--   leased_by
--   paused                                status 'held' (private.hold_jobs)
--   a row leaves the queue                the delivery leaves members; the job ends (done,
--                                         failed, dead) when none is left
--
-- Why a job per chunk: the chunk was already the unit of claim, lease, retry and
-- Idempotency-Key, so its rows always moved together; as one row, fan-out writes 1 queue
-- row per 100 deliveries instead of 100, a claim locks and leases one row per chunk, and a
-- report updates one row per chunk (see docs/performance.md).
--
-- A report that gives members of one chunk different retry times (a provider's retry-after
-- for some) splits the chunk: each retry time becomes its own job, under the same chunk_key,
-- so each is claimed when it is due, as the rows were before.
--
-- The view takes inserts (a delivery joins its chunk's job) and updates of run_after,
-- attempts, lease_until, leased_by and paused (they apply to the delivery's whole job), for
-- tools and tests that used the table.
--
-- rollback_check: rows move between private.jobs private.email_queue

select private.register_job_kind('email', private.email_max_attempts(), 120);

insert into private.jobs (kind, key, user_id, subject_id, payload, status, run_after, attempts, lease_until,
                          leased_by)
select
  'email',
  g.email_campaign_id || ':' || g.chunk || case when g.n > 1 then ':' || g.first_member else '' end,
  g.user_id,
  g.email_campaign_id,
  jsonb_strip_nulls(jsonb_build_object('chunk', g.chunk, 'chunk_key', g.chunk_key, 'members', g.members)),
  case when g.paused then 'held' else 'ready' end,
  g.run_after,
  g.attempts,
  g.lease_until,
  g.leased_by
from (
  select
    q.email_campaign_id, q.user_id, q.chunk, q.run_after, q.attempts, q.lease_until, q.leased_by, q.paused,
    q.chunk_key,
    jsonb_agg(q.delivery_id order by q.delivery_id) as members,
    min(q.delivery_id::text) as first_member,
    row_number() over (partition by q.email_campaign_id, q.chunk order by min(q.delivery_id::text)) as n
  from private.email_queue as q
  group by q.email_campaign_id, q.user_id, q.chunk, q.run_after, q.attempts, q.lease_until, q.leased_by,
           q.paused, q.chunk_key
) as g;

drop table private.email_queue;

create view private.email_queue as
select
  m.id::uuid as delivery_id,
  j.subject_id as email_campaign_id,
  j.user_id,
  (j.payload ->> 'chunk')::integer as chunk,
  j.run_after,
  j.attempts,
  j.lease_until,
  j.leased_by,
  j.status = 'held' as paused,
  j.payload ->> 'chunk_key' as chunk_key,
  j.id as job_id
from private.jobs as j
cross join lateral jsonb_array_elements_text(j.payload -> 'members') as m (id)
where j.kind = 'email'
  and j.status in ('ready', 'held')
  -- A deleted delivery (its campaign or its address erased) has left the queue.
  and exists (select from public.email_deliveries as d where d.id = m.id::uuid);
comment on view private.email_queue is
  'Deliveries waiting to be sent: the members of the waiting jobs of kind email (private.jobs, one job per chunk of at most 100 deliveries of a campaign). Inserting queues a delivery in its chunk; updates of run_after, attempts, lease_until, leased_by and paused apply to its whole chunk.';
revoke all on table private.email_queue from public, anon, authenticated, service_role;

create function private.email_queue_write()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    insert into private.jobs as j (kind, key, user_id, subject_id, payload, status, run_after)
    values ('email', new.email_campaign_id || ':' || new.chunk, new.user_id, new.email_campaign_id,
            jsonb_build_object('chunk', new.chunk, 'members', jsonb_build_array(new.delivery_id)),
            case when coalesce(new.paused, false) then 'held' else 'ready' end, coalesce(new.run_after, now()))
    on conflict (kind, key) do update
    set payload = jsonb_set(j.payload, '{members}', (j.payload -> 'members') || jsonb_build_array(new.delivery_id)),
        updated_at = now();
    return new;
  end if;
  -- A lease (even one that ran out) made its row claimable from lease_until on, whatever its
  -- run_after said; a job is claimable once both have passed.
  update private.jobs as j
  set run_after = case when new.lease_until is not null then least(new.run_after, new.lease_until) else new.run_after end,
      attempts = new.attempts,
      lease_until = new.lease_until,
      leased_by = new.leased_by,
      status = case when new.paused then 'held' else 'ready' end,
      updated_at = now()
  where j.id = old.job_id;
  return new;
end;
$$;
comment on function private.email_queue_write() is
  'Instead-of trigger of the private.email_queue view: an insert queues the delivery in its campaign chunk''s job; an update sets its job''s run_after, attempts, lease and paused (held).';
revoke all on function private.email_queue_write() from public, anon, authenticated, service_role;
create trigger email_queue_write
instead of insert or update on private.email_queue
for each row execute function private.email_queue_write();

create function private.delete_campaign_email_jobs()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  delete from private.jobs as j
  using old_campaigns as o
  where j.kind = 'email'
    and j.subject_id = o.id;
  return null;
end;
$$;
comment on function private.delete_campaign_email_jobs() is
  'Trigger: deleting email campaigns deletes their chunks (jobs of kind email), as their deliveries go.';
revoke all on function private.delete_campaign_email_jobs() from public, anon, authenticated, service_role;
create trigger delete_email_jobs
after delete on public.email_campaigns
referencing old table as old_campaigns
for each statement execute function private.delete_campaign_email_jobs();

create or replace function private.fan_out_email_campaign(email_campaign_id uuid)
returns integer
language plpgsql
set search_path = ''
set work_mem = '64MB'
as $$
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
  ),
  -- Chunks of 100 by address: one job each.
  chunked as (
    select
      r.delivery_id,
      r.email_campaign_id,
      r.user_id,
      ((row_number() over (order by lower(r.email))) - 1) / 100 as chunk
    from recipients as r
    where not r.suppressed
  ),
  jobs as (
    insert into private.jobs (kind, key, user_id, subject_id, payload)
    select
      'email',
      c.email_campaign_id || ':' || c.chunk,
      c.user_id,
      c.email_campaign_id,
      jsonb_build_object('chunk', c.chunk, 'members', jsonb_agg(c.delivery_id))
    from chunked as c
    group by c.email_campaign_id, c.user_id, c.chunk
    order by c.chunk
  )
  select count(*)::integer into queued from chunked;
  return queued;
end;
$$;
comment on function private.fan_out_email_campaign(uuid) is
  'Makes the deliveries of an email campaign that starts sending, and one job of kind email per chunk of 100 of them (by address); returns how many deliveries were queued.';

create or replace function private.apply_email_campaign_status()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if old.status = 'scheduled' and new.status = 'sending' then
    perform private.fan_out_email_campaign(new.id);
  elsif new.status = 'paused' then
    perform private.hold_jobs('email', new.id, true);
  elsif old.status = 'paused' and new.status = 'sending' then
    perform private.hold_jobs('email', new.id, false);
  elsif new.status = 'cancelled' then
    with cancelled as (
      select c.payload
      from private.cancel_jobs('email', new.id, 'the campaign was cancelled') as c
    )
    update public.email_deliveries as d
    set status = 'cancelled'
    from cancelled as c
    cross join lateral jsonb_array_elements_text(c.payload -> 'members') as m (id)
    where d.id = m.id::uuid
      and d.status = 'queued';
    -- Chunks a worker holds right now wait for its report (which cancels what it would
    -- retry), or for the tick once their lease runs out; nobody claims them meanwhile.
    perform private.hold_jobs('email', new.id, true);
  end if;
  return null;
end;
$$;
comment on function private.apply_email_campaign_status() is
  'Trigger: fans a campaign out when it starts sending; pauses (holds), resumes or cancels its queued chunks with it.';

create function private.settle_dead_email(p_job_ids bigint[])
returns integer
language sql
set search_path = ''
as $$
  with ended as (
    update public.email_deliveries as d
    set status = 'failed',
        last_error = format('gave up after %s attempts: %s', j.attempts,
                            coalesce(d.last_error, 'no result came back before the lease ran out'))
    from private.jobs as j
    cross join lateral jsonb_array_elements_text(j.payload -> 'members') as m (id)
    where j.id = any (p_job_ids)
      and j.kind = 'email'
      and j.status = 'dead'
      and d.id = m.id::uuid
      and d.status = 'queued'
    returning 1
  )
  select count(*)::integer from ended
$$;
comment on function private.settle_dead_email(bigint[]) is
  'dead_handler of kind email: the queued deliveries of chunks a claim dead-lettered (their last lease ran out with no report) fail, keeping their last error. Returns how many failed.';
revoke all on function private.settle_dead_email(bigint[]) from public, anon, authenticated, service_role;

update private.job_kinds
set dead_handler = 'private.settle_dead_email'
where kind = 'email';

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

  return query
  with jobs as (
    select * from unnest(claimed)
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
    cross join lateral jsonb_array_elements_text(j.payload -> 'members') as m (id)
    join public.email_deliveries as d on d.id = m.id::uuid
  ),
  -- The chunk's key: the one stored at its first claim, else (this is the first claim) the
  -- SHA-256 of its members' keys, stored below. Members suppressed since leave the chunk.
  keys as materialized (
    select
      j.id as job_id,
      j.payload ->> 'chunk_key' as stored_key,
      coalesce(
        j.payload ->> 'chunk_key',
        encode(sha256(convert_to(
          string_agg(m.idempotency_key, ',' order by m.idempotency_key) filter (where not m.suppressed), 'UTF8')), 'hex')
      ) as chunk_key,
      coalesce(jsonb_agg(m.delivery_id) filter (where not m.suppressed), '[]') as kept,
      count(m.delivery_id) filter (where not m.suppressed) <> jsonb_array_length(j.payload -> 'members') as shrunk
    from jobs as j
    left join members as m on m.job_id = j.id
    group by j.id, j.payload
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
  'Leases up to max_chunks ready chunks (jobs of kind email, <= 100 deliveries each, through private.claim_jobs) to worker; returns what to send; a chunk''s key and members are fixed at its first claim (members suppressed since are skipped).';

create or replace function private.complete_email_batch(worker text, results jsonb)
returns jsonb
language plpgsql
set search_path = ''
as $$
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

  -- The first result with a problem (the queue's rules first, then the provider's id), checked
  -- set-based: no function call per result.
  select p.problem
  into problem
  from (
    select q.i, 0 as rule, q.problem
    from private.queue_result_problems(results, 'delivery_id', 'delivery') as q
    union all
    select (e.n - 1)::integer, 1,
           format('results[%s].provider_message_id: expected a string, not %s', e.n - 1, e.r -> 'provider_message_id')
    from jsonb_array_elements(results) with ordinality as e (r, n)
    where jsonb_typeof(e.r -> 'provider_message_id') not in ('string', 'null')
  ) as p
  order by p.i, p.rule
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
  campaigns as materialized (
    select distinct d.email_campaign_id
    from reported as r
    join public.email_deliveries as d on d.id = r.delivery_id
  ),
  -- The worker's chunks that hold a reported delivery (found without locks: the other lanes
  -- of the same worker report their own chunks at the same time)...
  reported_jobs as materialized (
    select distinct j.id
    from campaigns as c
    join private.jobs as j on j.kind = 'email' and j.subject_id = c.email_campaign_id
    cross join lateral jsonb_array_elements_text(j.payload -> 'members') as m (id)
    join reported as r on r.delivery_id = m.id::uuid
    where j.leased_by = worker
      and j.lease_until is not null
      and j.status in ('ready', 'held')
  ),
  -- ... then locked (and checked again once locked), member by member.
  held as materialized (
    select j.id as job_id, j.key, j.attempts, j.status, j.subject_id, m.id::uuid as delivery_id
    from private.jobs as j
    cross join lateral jsonb_array_elements_text(j.payload -> 'members') as m (id)
    where j.id in (select r.id from reported_jobs as r)
      and j.leased_by = worker
      and j.lease_until is not null
      and j.status in ('ready', 'held')
    for update of j
  ),
  mine as materialized (
    select
      h.job_id,
      h.delivery_id,
      h.attempts,
      r.provider_message_id,
      r.error,
      r.retry_after_seconds,
      case
        when r.outcome = 'sent' then 'sent'
        when r.outcome = 'failed' then 'failed'
        when c.status = 'cancelled' then 'cancelled'
        when h.attempts >= private.email_max_attempts() then 'dead'
        else 'retry'
      end as fate
    from reported as r
    join held as h on h.delivery_id = r.delivery_id
    join public.email_campaigns as c on c.id = h.subject_id
  ),
  -- Retries wait max(retry-after, backoff) with jitter drawn per chunk; members that wait
  -- until different times become chunks of their own (same chunk_key), one job each.
  jitter as (
    select m.job_id, 1 + 0.25 * random() as factor
    from mine as m
    where m.fate = 'retry'
    group by m.job_id
  ),
  waits as (
    select
      m.job_id,
      now() + least(
        greatest(make_interval(secs => coalesce(m.retry_after_seconds, 0)), private.retry_backoff(m.attempts))
          * j.factor,
        interval '1 hour') as run_after,
      jsonb_agg(m.delivery_id order by m.delivery_id) as members,
      min(m.delivery_id::text) as first_member
    from mine as m
    join jitter as j on j.job_id = m.job_id
    where m.fate = 'retry'
    group by m.job_id, 2
  ),
  -- What becomes of each reported chunk: members nobody reported keep it under its lease;
  -- else its first retry group takes it; else it ends.
  chunks as (
    select
      h.job_id,
      h.key,
      jsonb_agg(h.delivery_id order by h.delivery_id) filter (where m.delivery_id is null) as unreported,
      bool_or(m.fate = 'dead') as dead,
      bool_and(m.fate = 'cancelled') as cancelled,
      (select w.run_after from waits as w where w.job_id = h.job_id order by w.run_after limit 1) as retry_at
    from held as h
    left join mine as m on m.delivery_id = h.delivery_id
    where h.job_id in (select m2.job_id from mine as m2)
    group by h.job_id, h.key
  ),
  rejobbed as (
    update private.jobs as j
    set payload = jsonb_set(j.payload, '{members}', coalesce(
          c.unreported,
          (select w.members from waits as w where w.job_id = c.job_id and w.run_after = c.retry_at),
          '[]')),
        status = case
          when c.unreported is not null or c.retry_at is not null then j.status
          when c.dead then 'dead'
          when c.cancelled then 'failed'
          else 'done'
        end,
        run_after = case when c.unreported is null and c.retry_at is not null then c.retry_at else j.run_after end,
        lease_until = case when c.unreported is not null then j.lease_until end,
        leased_by = case when c.unreported is not null then j.leased_by end,
        last_error = case
          when c.unreported is not null or c.retry_at is not null then j.last_error
          when c.dead then format('gave up after %s attempts', j.attempts)
          when c.cancelled then 'the campaign was cancelled'
          else j.last_error
        end,
        updated_at = now()
    from chunks as c
    where j.id = c.job_id
  ),
  split as (
    insert into private.jobs (kind, key, user_id, subject_id, payload, status, run_after, attempts)
    select 'email', c.key || ':' || w.first_member, j.user_id, j.subject_id,
           jsonb_set(j.payload, '{members}', w.members), j.status, w.run_after, j.attempts
    from waits as w
    join chunks as c on c.job_id = w.job_id
    join private.jobs as j on j.id = w.job_id
    where c.unreported is not null
       or w.run_after <> c.retry_at
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
comment on function private.complete_email_batch(text, jsonb) is
  'Records a worker''s results (sent, retry, failed) for the deliveries of the chunks it holds, in one statement; retries back off (a chunk whose members wait until different times splits), the fifth failure dead-letters. Returns counts.';

-- The tick reads the queue as jobs: work ready, cancelled chunks whose lease ran out, campaigns with none left.
create or replace function private.email_tick()
returns jsonb
language plpgsql
set search_path = ''
as $$
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
    from private.jobs as j
    where j.kind = 'email'
      and j.status = 'ready'
      and j.run_after <= now()
      and (j.lease_until is null or j.lease_until <= now())
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

create or replace function private.email_tick_run(step text, ids uuid[])
returns integer
language plpgsql
set search_path = ''
as $$
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
    -- Chunks held for a cancelled campaign whose worker's lease ran out with no report.
    with abandoned as (
      select a.payload
      from public.email_campaigns as c
      cross join lateral private.cancel_jobs('email', c.id, 'the campaign was cancelled') as a
      where c.id = any (ids)
        and c.status = 'cancelled'
    )
    update public.email_deliveries as d
    set status = 'cancelled'
    from abandoned as a
    cross join lateral jsonb_array_elements_text(a.payload -> 'members') as m (id)
    where d.id = m.id::uuid
      and d.status = 'queued';
    get diagnostics moved = row_count;
    perform set_config('beacon.email_event_workflows', '', true);
  elsif step = 'finish' then
    with finishing as (
      select c.id, private.email_campaign_metrics(c.id) as metrics
      from public.email_campaigns as c
      where c.id = any (ids)
        and c.status = 'sending'
        and not exists (
          select from private.jobs as j where j.kind = 'email' and j.subject_id = c.id and j.status in ('ready', 'held')
        )
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

create or replace function private.email_tick_units(step text)
returns uuid[]
language plpgsql
stable
set search_path = ''
as $$
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
    select array_agg(distinct j.subject_id)
    into ids
    from private.jobs as j
    join public.email_campaigns as c on c.id = j.subject_id
    where j.kind = 'email'
      and j.status in ('ready', 'held')
      and c.status = 'cancelled'
      and j.lease_until <= now();
  elsif step = 'finish' then
    select array_agg(c.id)
    into ids
    from public.email_campaigns as c
    where c.status = 'sending'
      and not exists (
        select from private.jobs as j where j.kind = 'email' and j.subject_id = c.id and j.status in ('ready', 'held')
      );
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
