-- Per-owner retention of analytics_events: collect_settings.retention_days (default 400; an
-- owner without a settings row keeps 400 days). private.apply_analytics_retention(), run
-- daily by pg_cron (beacon-analytics-retention), in order:
--   1. the longest retention of any owner (auth.users, 400 when they have no row) sets the
--      cutoff: month partitions wholly older than it are dropped, and the default
--      partition's and the message-id claims' rows older than it are deleted;
--   2. each owner with a shorter retention loses their events older than their own, in a
--      subtransaction of its own: an owner whose delete fails (e.g. a trigger of theirs)
--      keeps their events, gets a row in private.analytics_retention_failures naming the
--      reason, and the others are done (a later success clears the row).
-- Safe to run twice: a second run finds nothing to drop or delete.

alter table public.collect_settings
  add column retention_days integer not null default 400,
  add constraint collect_settings_retention_days_check check (retention_days between 1 and 3650);
comment on column public.collect_settings.retention_days is
  'Days analytics events are kept (1..3650, default 400); older ones are deleted daily.';
grant insert (retention_days), update (retention_days) on table public.collect_settings to authenticated;

create table private.analytics_retention_failures (
  user_id uuid primary key references auth.users (id) on delete cascade,
  failed_at timestamptz not null default now(),
  error text not null
);
comment on table private.analytics_retention_failures is
  'Owners whose last analytics retention run failed, with the reason (cleared by a later success).';
revoke all on table private.analytics_retention_failures from public, anon, authenticated, service_role;

create function private.apply_analytics_retention(at timestamptz default now())
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  longest integer;
  cutoff timestamptz;
  part record;
  dropped text[] := array[]::text[];
  owner record;
  deleted bigint;
  total_deleted bigint := 0;
  failed integer := 0;
  reason text;
begin
  select coalesce(max(coalesce(s.retention_days, 400)), 400)
  into longest
  from auth.users as u
  left join public.collect_settings as s on s.user_id = u.id;
  cutoff := at - make_interval(days => longest);

  -- 1. Whole months older than every owner's retention.
  for part in
    select c.relname
    from pg_catalog.pg_inherits as i
    join pg_catalog.pg_class as c on c.oid = i.inhrelid
    join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
    where i.inhparent = 'public.analytics_events'::regclass
      and n.nspname = 'private'
      and c.relname ~ '^analytics_events_p\d{4}_\d{2}$'
      and (to_date(right(c.relname, 7), 'YYYY_MM') + interval '1 month')::timestamp at time zone 'UTC' <= cutoff
    order by c.relname
  loop
    execute format('drop table private.%I', part.relname);
    dropped := dropped || part.relname::text;
  end loop;
  delete from private.analytics_events_default as d where d."timestamp" < cutoff;
  delete from private.analytics_event_messages as m where m."timestamp" < cutoff;

  -- 2. Owners who keep less.
  for owner in
    select s.user_id, s.retention_days
    from public.collect_settings as s
    where s.retention_days < longest
    order by s.user_id
  loop
    begin
      delete from public.analytics_events as a
      where a.user_id = owner.user_id
        and a."timestamp" < at - make_interval(days => owner.retention_days);
      get diagnostics deleted = row_count;
      total_deleted := total_deleted + deleted;
      delete from private.analytics_retention_failures as f where f.user_id = owner.user_id;
    exception when others then
      get stacked diagnostics reason = message_text;
      failed := failed + 1;
      insert into private.analytics_retention_failures as f (user_id, error)
      values (owner.user_id, reason)
      on conflict (user_id) do update set failed_at = now(), error = excluded.error;
    end;
  end loop;

  return jsonb_build_object('longest_days', longest, 'dropped_partitions', to_jsonb(dropped),
    'deleted', total_deleted, 'failed_owners', failed);
end;
$$;
comment on function private.apply_analytics_retention(timestamptz) is
  'pg_cron (beacon-analytics-retention): drops analytics_events months older than every owner''s retention, deletes each owner''s events older than their own (isolated per owner).';
revoke all on function private.apply_analytics_retention(timestamptz) from public, anon, authenticated, service_role;

select cron.schedule(
  'beacon-analytics-retention',
  '37 3 * * *',
  'select private.apply_analytics_retention()'
);
