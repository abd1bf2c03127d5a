-- Rate limits for the public edge routes (tracking links, the Resend webhook, and later forms
-- and collection): one fixed-window counter primitive in Postgres, because the functions run
-- as many instances at once and keep nothing in memory between requests.
--
--   private.rate_limit_hit(bucket, key, max_hits, window_seconds) → integer
--     counts one hit of `key` (an IP address, a token's digest...) in `bucket` (e.g.
--     'track:ip') for the current window (windows start at multiples of window_seconds since
--     the epoch) with one insert … on conflict do update. Returns null while the window has
--     had at most max_hits hits, counting this one; over the limit it returns the seconds
--     until the window ends (the Retry-After) and writes nothing, so a flood costs no row
--     versions.
--   private.purge_rate_limits() → integer
--     deletes the counters of windows that have ended; pg_cron runs it every 5 minutes
--     under the stable name beacon-purge-rate-limits.
--
-- The table is unlogged: counters are worth nothing after a crash, and skipping the WAL keeps
-- one counter per request cheap (a crash empties it, which only forgives the current window).

create unlogged table private.rate_limit_counters (
  bucket text not null,
  key text not null,
  window_start timestamptz not null,
  expires_at timestamptz not null,
  hits integer not null default 1,
  constraint rate_limit_counters_pkey primary key (bucket, key, window_start),
  constraint rate_limit_counters_bucket_check check (length(bucket) between 1 and 100),
  constraint rate_limit_counters_key_check check (length(key) between 1 and 200),
  constraint rate_limit_counters_hits_check check (hits >= 1),
  constraint rate_limit_counters_window_check check (expires_at > window_start)
);
comment on table private.rate_limit_counters is
  'Fixed-window hit counters of the public routes'' rate limits, one row per (bucket, key, window); purged when the window ends.';

revoke all on table private.rate_limit_counters from public, anon, authenticated, service_role;

create function private.rate_limit_hit(bucket text, key text, max_hits integer, window_seconds integer)
returns integer
language plpgsql
set search_path = ''
as $$
#variable_conflict use_column
declare
  started timestamptz;
  counted integer;
begin
  if bucket is null or length(bucket) not between 1 and 100 then
    raise exception using
      errcode = 'invalid_parameter_value',
      message = 'rate_limit_hit: bucket must name the limit (e.g. ''track:ip''), in 1 to 100 characters';
  end if;
  if key is null or length(key) not between 1 and 200 then
    raise exception using
      errcode = 'invalid_parameter_value',
      message = 'rate_limit_hit: key must be 1 to 200 characters (an IP address, a token''s digest)';
  end if;
  if max_hits is null or max_hits < 1 then
    raise exception using
      errcode = 'invalid_parameter_value',
      message = format('rate_limit_hit: max_hits must be at least 1, not %s', coalesce(max_hits::text, 'null'));
  end if;
  if window_seconds is null or window_seconds not between 1 and 86400 then
    raise exception using
      errcode = 'invalid_parameter_value',
      message = format('rate_limit_hit: window_seconds must be between 1 and 86400, not %s',
        coalesce(window_seconds::text, 'null'));
  end if;

  started := to_timestamp(floor(extract(epoch from now()) / window_seconds) * window_seconds);
  insert into private.rate_limit_counters as c (bucket, key, window_start, expires_at)
  values (rate_limit_hit.bucket, rate_limit_hit.key, started, started + make_interval(secs => window_seconds))
  on conflict (bucket, key, window_start) do update
    set hits = c.hits + 1
    where c.hits < rate_limit_hit.max_hits
  returning c.hits into counted;

  if counted is not null then
    return null;
  end if;
  return greatest(1, ceil(extract(epoch from started + make_interval(secs => window_seconds) - now())))::integer;
end;
$$;
comment on function private.rate_limit_hit(text, text, integer, integer) is
  'Counts one hit of key in bucket for the current fixed window; null while within max_hits, else the seconds until the window ends (nothing written).';

create function private.purge_rate_limits()
returns integer
language sql
set search_path = ''
as $$
  with purged as (
    delete from private.rate_limit_counters
    where expires_at < now()
    returning 1
  )
  select count(*)::integer from purged
$$;
comment on function private.purge_rate_limits() is
  'Cron job body: deletes the rate-limit counters of windows that have ended; returns how many.';

revoke all on function
  private.rate_limit_hit(text, text, integer, integer),
  private.purge_rate_limits()
from public, anon, authenticated, service_role;

-- A stable job name: re-running the migration updates the job instead of adding another.
select cron.schedule('beacon-purge-rate-limits', '*/5 * * * *', 'select private.purge_rate_limits()');
