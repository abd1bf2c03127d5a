-- complete_email_batch joins the held members to the reported results once. It joined them
-- twice: once for the reported members' fates and again, members × fates, for what is left of
-- each chunk; the second join had only CTE estimates (one row) to go on and ran as a nested
-- loop, 250,000 comparisons for a report of 500 deliveries and 4,000,000 for 2,000 (measured:
-- 45 ms against 35 ms for 5 chunks, 262 ms against 118 ms for 20). Results are unchanged.
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
  -- Every held member with what was reported of it (null: not reported). One hash join: the
  -- chunks below group this instead of joining the members to the reported ones again, which
  -- the planner (a CTE's one-row estimate) did as a nested loop, members × reported.
  members as materialized (
    select
      h.job_id,
      h.key,
      h.delivery_id,
      h.attempts,
      r.provider_message_id,
      r.error,
      r.retry_after_seconds,
      case
        when r.delivery_id is null then null
        when r.outcome = 'sent' then 'sent'
        when r.outcome = 'failed' then 'failed'
        when c.status = 'cancelled' then 'cancelled'
        when h.attempts >= private.email_max_attempts() then 'dead'
        else 'retry'
      end as fate
    from held as h
    left join reported as r on r.delivery_id = h.delivery_id
    join public.email_campaigns as c on c.id = h.subject_id
  ),
  mine as materialized (
    select m.* from members as m where m.fate is not null
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
      m.job_id,
      m.key,
      jsonb_agg(m.delivery_id order by m.delivery_id) filter (where m.fate is null) as unreported,
      bool_or(m.fate = 'dead') as dead,
      bool_and(m.fate = 'cancelled') as cancelled,
      (select w.run_after from waits as w where w.job_id = m.job_id order by w.run_after limit 1) as retry_at
    from members as m
    group by m.job_id, m.key
    having bool_or(m.fate is not null)
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
