-- Daily event rollups (issue 11): per owner × UTC day × event type × event name, the number
-- of events, of distinct anonymous ids and of distinct leads (properties.lead_id).
--
-- Kept incrementally and exactly: statement-level triggers on analytics_events (insert,
-- update — identify back-fills properties.lead_id —, delete) mark the (owner, day) pairs they
-- touch in private.event_rollup_dirty; every five minutes pg_cron runs
-- private.refresh_event_rollups(), which recomputes exactly the dirty closed days, set-based,
-- one owner at a time. The dirty marks are the watermark: a day is exact once it has no mark,
-- so a run that comes twice, late, or after late-arriving events recomputes what changed and
-- nothing else. A mark is taken with `on conflict do update` (a row lock), so a job that
-- clears it waits for the writing transaction and then sees its events.

create table private.event_rollups_daily (
  user_id uuid not null references auth.users (id) on delete cascade,
  day date not null,
  event_type text not null,
  event_name text not null,
  events bigint not null check (events > 0),
  anonymous_ids bigint not null check (anonymous_ids >= 0),
  leads bigint not null check (leads >= 0),
  computed_at timestamptz not null default now(),
  primary key (user_id, day, event_type, event_name)
);
comment on table private.event_rollups_daily is
  'Daily event totals per owner, UTC day, event type and name (events, distinct anonymous ids, distinct properties.lead_id); exact for every closed day without a mark in event_rollup_dirty.';
revoke all on table private.event_rollups_daily from public, anon, authenticated, service_role;

create table private.event_rollup_dirty (
  user_id uuid not null references auth.users (id) on delete cascade,
  day date not null,
  marked_at timestamptz not null default now(),
  last_error text check (length(last_error) <= 2000),
  failed_at timestamptz,
  primary key (user_id, day)
);
comment on table private.event_rollup_dirty is
  'The (owner, UTC day) pairs whose events changed since their rollup was computed; the rollup job''s watermark. last_error/failed_at record why a recompute of that owner failed (the mark stays and is retried).';
revoke all on table private.event_rollup_dirty from public, anon, authenticated, service_role;

create function private.mark_event_days_dirty()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op in ('INSERT', 'UPDATE') then
    insert into private.event_rollup_dirty as d (user_id, day)
    select distinct n.user_id, (n."timestamp" at time zone 'UTC')::date
    from new_events as n
    order by 1, 2
    on conflict (user_id, day) do update set marked_at = now();
  end if;
  if tg_op in ('UPDATE', 'DELETE') then
    insert into private.event_rollup_dirty as d (user_id, day)
    select distinct o.user_id, (o."timestamp" at time zone 'UTC')::date
    from old_events as o
    -- not for an owner being deleted (the cascade takes her rollups too)
    where exists (select from auth.users as u where u.id = o.user_id)
    order by 1, 2
    on conflict (user_id, day) do update set marked_at = now();
  end if;
  return null;
end;
$$;
comment on function private.mark_event_days_dirty() is
  'Statement trigger on analytics_events: marks the (owner, UTC day) pairs the statement touched for the rollup job. Security definer: the writer may not see the private table.';
revoke all on function private.mark_event_days_dirty() from public, anon, authenticated, service_role;

create trigger mark_rollup_days_on_insert
after insert on public.analytics_events
referencing new table as new_events
for each statement execute function private.mark_event_days_dirty();

create trigger mark_rollup_days_on_update
after update on public.analytics_events
referencing old table as old_events new table as new_events
for each statement execute function private.mark_event_days_dirty();

create trigger mark_rollup_days_on_delete
after delete on public.analytics_events
referencing old table as old_events
for each statement execute function private.mark_event_days_dirty();

create function private.refresh_event_rollups()
returns integer
language plpgsql
set search_path = ''
as $$
declare
  today date := (now() at time zone 'UTC')::date;
  owner uuid;
  days date[];
  recomputed integer := 0;
begin
  for owner in
    select distinct d.user_id from private.event_rollup_dirty as d where d.day < today order by 1
  loop
    begin
      -- Its own statement: if a writer holds a mark, this waits for its commit, and the
      -- recompute below (a later statement, a new snapshot) sees that writer's events.
      with cleared as (
        delete from private.event_rollup_dirty as d
        where d.user_id = owner and d.day < today
        returning d.day
      )
      select array_agg(c.day) into days from cleared as c;
      if days is null then
        continue;
      end if;

      delete from private.event_rollups_daily as r
      where r.user_id = owner and r.day = any (days);

      insert into private.event_rollups_daily
        (user_id, day, event_type, event_name, events, anonymous_ids, leads)
      select owner, x.day, e.event_type, e.event_name,
             count(*), count(distinct e.anonymous_id), count(distinct e.properties ->> 'lead_id')
      from unnest(days) as x (day)
      join public.analytics_events as e
        on e.user_id = owner
       and e."timestamp" >= x.day::timestamp at time zone 'UTC'
       and e."timestamp" < (x.day + 1)::timestamp at time zone 'UTC'
      group by x.day, e.event_type, e.event_name;

      recomputed := recomputed + cardinality(days);
    exception when others then
      -- The block's changes are undone (the marks come back); say why on them and go on.
      update private.event_rollup_dirty as d
      set last_error = left(sqlerrm, 2000), failed_at = now()
      where d.user_id = owner and d.day < today;
    end;
  end loop;
  return recomputed;
end;
$$;
comment on function private.refresh_event_rollups() is
  'Cron job body: recomputes the daily rollups of every marked closed UTC day, one owner at a time (a failing owner keeps its marks with the reason and the others go on); returns how many owner-days it recomputed. Safe to run twice or late.';
revoke all on function private.refresh_event_rollups() from public, anon, authenticated, service_role;

-- Events that exist already: every (owner, day) starts dirty, so the first run builds them.
insert into private.event_rollup_dirty (user_id, day)
select distinct e.user_id, (e."timestamp" at time zone 'UTC')::date
from public.analytics_events as e
on conflict do nothing;

-- A stable job name: re-running the migration updates the job instead of adding another.
select cron.schedule('beacon-event-rollups', '*/5 * * * *', 'select private.refresh_event_rollups()');
