-- The dispatcher's side of the queue, part two: reporting what happened.
--
-- private.complete_email_batch(worker, results) records the outcome of each delivery the
-- worker sent, in a few set-based statements:
--   sent    the delivery is 'sent' (sent_at, the provider's message id) and leaves the queue;
--   failed  the provider refused it for good: 'failed' with the error, out of the queue;
--   retry   back in the queue after max(retry_after_seconds, backoff), capped at an hour,
--           with jitter, the error kept as last_error. The fifth failed attempt instead
--           dead-letters it: 'failed', last_error 'gave up after 5 attempts: <error>'.
--           A retry in a campaign cancelled meanwhile becomes 'cancelled'.
-- Only rows the worker holds count: a worker whose lease ran out and whose rows another
-- worker claimed cannot overwrite the new holder's work; such results are counted as ignored.
--
-- Backoff: 30 s, 1 min, 2 min, 4 min... (30 s * 2^(attempt - 1)), at most an hour, times a
-- jitter factor in [1, 1.25) drawn once per chunk, so the rows of a chunk that failed
-- together stay together (and keep their chunk key) and chunks do not retry in lockstep.
--
-- private.retry_backoff and private.queue_result_problem serve every outbound queue (the
-- workflow webhook queue too), so their retries and their result format are one.

create function private.retry_backoff(attempt integer)
returns interval
language sql
immutable
set search_path = ''
as $$
  select least(interval '30 seconds' * power(2, least(greatest(attempt, 1), 20) - 1), interval '1 hour')
$$;
comment on function private.retry_backoff(integer) is
  'Delay before retrying outbound work (an email, a webhook) after its attempt-th failure, before jitter: 30 s doubling per attempt, at most 1 hour.';
revoke all on function private.retry_backoff(integer) from public, anon, authenticated, service_role;

-- The fields every queue's results share; each queue checks its own extra fields after.
create function private.queue_result_problem(result jsonb, i integer, id_key text, id_noun text)
returns text
language sql
immutable
set search_path = ''
as $$
  select coalesce(
    case when jsonb_typeof(result) <> 'object' then format('results[%s]: expected an object, not %s', i, result) end,
    case when jsonb_typeof(result -> id_key) is distinct from 'string'
              or lower(result ->> id_key) !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
      format('results[%s].%s: %s is not a %s id', i, id_key, coalesce(result -> id_key, 'null'), id_noun)
    end,
    case when (result ->> 'outcome') is null or (result ->> 'outcome') not in ('sent', 'retry', 'failed') then
      format('results[%s].outcome: %s is not sent, retry or failed', i, coalesce(result -> 'outcome', 'null'))
    end,
    case when jsonb_typeof(result -> 'error') not in ('string', 'null') then
      format('results[%s].error: expected a string, not %s', i, result -> 'error')
    end,
    case
      when jsonb_typeof(result -> 'retry_after_seconds') not in ('number', 'null') then
        format('results[%s].retry_after_seconds: expected a number of seconds, not %s', i,
               result -> 'retry_after_seconds')
      when (result ->> 'retry_after_seconds')::numeric not between 0 and 86400
        or (result ->> 'retry_after_seconds')::numeric % 1 <> 0 then
        format('results[%s].retry_after_seconds: expected a whole number from 0 to 86400, not %s', i,
               result -> 'retry_after_seconds')
    end
  )
$$;
comment on function private.queue_result_problem(jsonb, integer, text, text) is
  'What is wrong with the i-th result reported to a queue (an object with id_key, outcome, error?, retry_after_seconds?), or null.';
revoke all on function private.queue_result_problem(jsonb, integer, text, text)
  from public, anon, authenticated, service_role;

create function private.complete_email_batch(worker text, results jsonb)
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
comment on function private.complete_email_batch(text, jsonb) is
  'Records a worker''s results (sent, retry, failed) for the deliveries it holds; retries back off, the fifth failure dead-letters. Returns counts.';
revoke all on function private.complete_email_batch(text, jsonb) from public, anon, authenticated, service_role;
