-- A failure of analytics retention's global step cannot stop the owners' deletes (issue 8 §1).
-- private.apply_analytics_retention drops the months older than every owner's retention and
-- deletes the default partition's and the message ids' rows older than it, then deletes each
-- owner's older events in a subtransaction per owner. The global step ran outside any exception
-- block: a partition that could not be dropped (a lock held too long, a dependent object)
-- failed the run, and no owner's events were deleted, every day. It now runs in a
-- subtransaction of its own: when it fails, its work is undone and tried again on the next run,
-- the reason is kept in private.analytics_retention_global_failure (cleared by a later success)
-- and returned as 'global_error', and the owners' deletes go on.

create table private.analytics_retention_global_failure (
  id boolean primary key default true check (id),
  failed_at timestamptz not null default now(),
  error text not null check (length(error) <= 1000)
);
comment on table private.analytics_retention_global_failure is
  'The reason the last analytics retention run could not drop old months or delete old default-partition rows and message ids (one row at most; cleared by a later success).';
revoke all on table private.analytics_retention_global_failure from public, anon, authenticated, service_role;

create or replace function private.apply_analytics_retention(at timestamptz default now())
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
  global_error text;
begin
  select coalesce(max(coalesce(s.retention_days, 400)), 400)
  into longest
  from auth.users as u
  left join public.collect_settings as s on s.user_id = u.id;
  cutoff := at - make_interval(days => longest);

  -- 1. Whole months older than every owner's retention, in a subtransaction of its own: when it
  -- fails, nothing of it is done (the months come again tomorrow), the reason is kept, and the
  -- owners' deletes below still run.
  begin
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
    delete from private.analytics_retention_global_failure;
  exception when others then
    global_error := left(format('%s (%s)', sqlerrm, sqlstate), 1000);
    dropped := array[]::text[];
    insert into private.analytics_retention_global_failure as f (error)
    values (global_error)
    on conflict (id) do update set failed_at = now(), error = excluded.error;
  end;

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
    'deleted', total_deleted, 'failed_owners', failed)
    || case when global_error is not null then jsonb_build_object('global_error', global_error) else '{}' end;
end;
$$;
comment on function private.apply_analytics_retention(timestamptz) is
  'pg_cron (beacon-analytics-retention): drops analytics_events months older than every owner''s retention, deletes each owner''s events older than their own (isolated per owner; the global step in a subtransaction of its own, its failure kept in private.analytics_retention_global_failure).';
