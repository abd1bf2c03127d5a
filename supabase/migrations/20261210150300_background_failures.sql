-- public.background_failures(): what the shared jobs recorded against the caller (issue 8). Jobs
-- isolate each owner and record why their work failed, but some record it in private tables no
-- app can read, so the owner whose lead workflows never started, whose report days are stale
-- or whose old events or unconfirmed leads were not removed had no way to learn why. This one
-- read returns the caller's own recorded failures across those tables, never another owner's;
-- failures already on the owner's own rows (campaigns' error_message, scoring rules'
-- last_error, segments' evaluation_error, executions) stay where they are.
--
-- As for the reports, the definer reading the closed tables lives in reporting (not exposed by
-- the API) and reads only the caller's rows; the RPC in public is the caller's own.

create function reporting.background_failures()
returns table (
  job text,
  object_type text,
  object_id text,
  reason text,
  failed_at timestamptz,
  retry_at timestamptz
)
language sql
stable
security definer
set search_path = ''
as $$
  select 'beacon-lead-changes', 'lead_insert', c.id::text,
    format('%s (the workflows of %s inserted lead(s) have not started)', c.error, jsonb_array_length(c.leads)),
    c.failed_at, c.retry_at
  from private.lead_changes as c
  where c.user_id = (select auth.uid()) and c.error is not null
  union all
  -- A failed day stays marked and is recomputed at every run until it succeeds.
  select 'beacon-event-rollups', 'report_day', d.day::text, d.last_error, d.failed_at, null
  from private.event_rollup_dirty as d
  where d.user_id = (select auth.uid()) and d.last_error is not null
  union all
  select 'beacon-analytics-retention', null, null, r.error, r.failed_at, null
  from private.analytics_retention_failures as r
  where r.user_id = (select auth.uid())
  union all
  select 'beacon-expire-unconfirmed-leads', null, null, u.error, u.failed_at, null
  from private.unconfirmed_expiry_failures as u
  where u.user_id = (select auth.uid())
$$;
comment on function reporting.background_failures() is
  'The caller''s failures recorded by the shared jobs in tables closed to clients (for public.background_failures).';
revoke all on function reporting.background_failures() from public, anon, authenticated, service_role;
grant execute on function reporting.background_failures() to authenticated;

create function public.background_failures()
returns table (
  job text,
  object_type text,
  object_id text,
  reason text,
  failed_at timestamptz,
  retry_at timestamptz
)
language plpgsql
stable
set search_path = ''
as $$
begin
  if (select auth.uid()) is null then
    raise exception using errcode = 'insufficient_privilege',
      message = 'background_failures: sign in first; it lists the signed-in owner''s own failures';
  end if;
  return query
  select f.job, f.object_type, f.object_id, f.reason, f.failed_at, f.retry_at
  from reporting.background_failures() as f
  order by f.failed_at desc, f.job, f.object_id;
end;
$$;
comment on function public.background_failures() is
  'The failures the shared jobs recorded against the caller in tables apps cannot read (lead inserts whose workflows did not start, report days not recomputed, analytics retention, expiry of unconfirmed leads): job, the object it concerns (type and id, where there is one), the reason, when, and when it is retried (null: at the next run, or never for a lead insert that gave up). Newest first; the caller''s own only.';
revoke all on function public.background_failures() from public, anon, authenticated, service_role;
grant execute on function public.background_failures() to authenticated;
