-- analytics_events partitioned by month on "timestamp" (native declarative partitioning), so
-- reports scan only the months they ask for and retention drops whole months.
--
--   * Partitions live in the private schema (private.analytics_events_pYYYY_MM, one per
--     calendar month in UTC, plus private.analytics_events_default for any timestamp no
--     month partition holds, so an insert never fails for its date). Clients reach the rows
--     only through public.analytics_events and its RLS; nobody but postgres may touch a
--     partition.
--   * private.create_analytics_event_partitions(months_ahead) creates this month's and the
--     next months' partitions (pg_cron job beacon-analytics-partitions, daily; safe to run
--     twice or late: rows already in the default partition for a new month move into it).
--   * The primary key becomes (id, "timestamp") (a partitioned table's unique keys must hold
--     the partition key). The old unique index on (user_id, message_id) cannot: message ids
--     are claimed in private.analytics_event_messages instead, keyed (user_id, message_id),
--     whatever the event's time. An insert whose message id is already claimed by another
--     event fails with unique_violation as before (statement trigger), a deleted event frees
--     its message id as before, and private.collect_events claims first and skips resends.
--   * A BRIN index on "timestamp" (below) for scans of a time range across owners.
--   * Existing rows are copied; the table's comments, grants, column privileges, RLS
--     policies, triggers and other indexes are re-created exactly from the catalog (whatever
--     migrations added them), by private.analytics_events_dressing().
--
-- rollback_check: rows through public.analytics_events private.analytics_event_messages

-- The statements that re-create a table's comments, grants, column privileges, RLS, policies,
-- triggers and indexes (but its constraints' indexes and those named in skip_indexes), as
-- they stand now. Run after the table was re-created under the same name.
create function private.analytics_events_dressing(tbl regclass, skip_indexes text[])
returns setof text
language sql
stable
set search_path = ''
as $$
  select format('comment on table %s is %L', tbl, d.description)
  from pg_catalog.pg_description as d
  where d.objoid = tbl and d.classoid = 'pg_catalog.pg_class'::regclass and d.objsubid = 0
  union all
  select format('comment on column %s.%I is %L', tbl, a.attname, d.description)
  from pg_catalog.pg_description as d
  join pg_catalog.pg_attribute as a on a.attrelid = tbl and a.attnum = d.objsubid
  where d.objoid = tbl and d.classoid = 'pg_catalog.pg_class'::regclass and d.objsubid > 0
  union all
  select format('revoke all on table %s from public, anon, authenticated, service_role', tbl)
  union all
  select format('grant %s on table %s to %s', x.privilege_type, tbl,
    case x.grantee when 0 then 'public' else quote_ident(x.grantee::regrole::text) end)
  from pg_catalog.pg_class as c
  cross join lateral pg_catalog.aclexplode(c.relacl) as x
  where c.oid = tbl and x.grantee <> c.relowner
  union all
  select format('grant %s (%I) on table %s to %s', x.privilege_type, a.attname, tbl,
    case x.grantee when 0 then 'public' else quote_ident(x.grantee::regrole::text) end)
  from pg_catalog.pg_attribute as a
  cross join lateral pg_catalog.aclexplode(a.attacl) as x
  where a.attrelid = tbl and a.attnum > 0 and not a.attisdropped and a.attacl is not null
  union all
  select format('alter table %s enable row level security', tbl)
  from pg_catalog.pg_class as c where c.oid = tbl and c.relrowsecurity
  union all
  select format('alter table %s force row level security', tbl)
  from pg_catalog.pg_class as c where c.oid = tbl and c.relforcerowsecurity
  union all
  select format('create policy %I on %s as %s for %s to %s%s%s', p.polname, tbl,
    case when p.polpermissive then 'permissive' else 'restrictive' end,
    case p.polcmd when 'r' then 'select' when 'a' then 'insert' when 'w' then 'update'
      when 'd' then 'delete' else 'all' end,
    (select string_agg(case r when 0 then 'public' else quote_ident(r::regrole::text) end, ', ')
     from unnest(p.polroles) as r),
    ' using (' || pg_catalog.pg_get_expr(p.polqual, p.polrelid) || ')',
    ' with check (' || pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) || ')')
  from pg_catalog.pg_policy as p
  where p.polrelid = tbl
  union all
  select pg_catalog.pg_get_triggerdef(t.oid)
  from pg_catalog.pg_trigger as t
  where t.tgrelid = tbl and not t.tgisinternal
  union all
  select replace(pg_catalog.pg_get_indexdef(i.indexrelid), ' ON ONLY ', ' ON ')
  from pg_catalog.pg_index as i
  join pg_catalog.pg_class as ic on ic.oid = i.indexrelid
  where i.indrelid = tbl
    and not exists (select from pg_catalog.pg_constraint as k where k.conindid = i.indexrelid)
    and not ic.relname = any(skip_indexes)
$$;
comment on function private.analytics_events_dressing(regclass, text[]) is
  'Migration helper: the statements that re-create a table''s comments, grants, column privileges, RLS, policies, triggers and indexes as they are now.';
revoke all on function private.analytics_events_dressing(regclass, text[]) from public, anon, authenticated, service_role;

-- Message ids claimed per owner (the idempotency of resends).
create table private.analytics_event_messages (
  user_id uuid not null references auth.users (id) on delete cascade,
  message_id text not null,
  event_id uuid not null,
  "timestamp" timestamptz not null,
  constraint analytics_event_messages_pkey primary key (user_id, message_id)
);
comment on table private.analytics_event_messages is
  'The message ids of analytics_events per owner, whatever the event''s month: a resend with a claimed id is skipped (collect) or fails (direct insert).';
create index analytics_event_messages_timestamp_idx on private.analytics_event_messages ("timestamp");
revoke all on table private.analytics_event_messages from public, anon, authenticated, service_role;

-- Statement trigger (after insert): the inserted events' message ids are claimed; one already
-- claimed by another event fails the statement as the old unique index did.
create function private.claim_analytics_message_ids()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into private.analytics_event_messages (user_id, message_id, event_id, "timestamp")
  select n.user_id, n.message_id, n.id, n."timestamp"
  from new_events as n
  where n.message_id is not null
  on conflict (user_id, message_id) do nothing;

  if exists (
    select
    from new_events as n
    join private.analytics_event_messages as m on m.user_id = n.user_id and m.message_id = n.message_id
    where m.event_id <> n.id
  ) then
    raise exception using
      errcode = 'unique_violation',
      message = 'duplicate key value violates unique constraint "analytics_events_user_id_message_id_key"',
      detail = 'An event of this owner already has this message_id.',
      constraint = 'analytics_events_user_id_message_id_key';
  end if;
  return null;
end;
$$;
comment on function private.claim_analytics_message_ids() is
  'Trigger (after insert on analytics_events, per statement): claims the events'' message ids; a message id another event holds is a unique_violation.';

-- Statement trigger (after delete): a deleted event frees its message id.
create function private.release_analytics_message_ids()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  delete from private.analytics_event_messages as m
  using old_events as o
  where o.message_id is not null
    and m.user_id = o.user_id
    and m.message_id = o.message_id
    and m.event_id = o.id;
  return null;
end;
$$;
comment on function private.release_analytics_message_ids() is
  'Trigger (after delete on analytics_events, per statement): frees the deleted events'' message ids.';
revoke all on function private.claim_analytics_message_ids(), private.release_analytics_message_ids()
  from public, anon, authenticated, service_role;

-- Month partitions from this month through months_ahead months ahead (UTC). Rows the default
-- partition already holds for such a month move into it. Returns the partitions created.
create function private.create_analytics_event_partitions(months_ahead integer default 3)
returns setof text
language plpgsql
set search_path = ''
as $$
declare
  first_month date := date_trunc('month', now() at time zone 'UTC')::date;
  month date;
begin
  if months_ahead is null or months_ahead < 0 or months_ahead > 120 then
    raise exception using
      errcode = 'invalid_parameter_value',
      message = format('create_analytics_event_partitions: months_ahead must be 0..120, got %s', months_ahead);
  end if;
  for month in
    select m::date from generate_series(first_month, first_month + make_interval(months => months_ahead), interval '1 month') as m
  loop
    if private.create_analytics_event_partition(month) then
      return next 'private.' || private.analytics_event_partition_name(month);
    end if;
  end loop;
end;
$$;
comment on function private.create_analytics_event_partitions(integer) is
  'pg_cron (beacon-analytics-partitions): creates analytics_events'' month partitions from this month to months_ahead ahead; a no-op when they exist.';

create function private.analytics_event_partition_name(month date)
returns text
language sql
immutable
set search_path = ''
as $$
  select 'analytics_events_p' || to_char(month, 'YYYY_MM')
$$;
comment on function private.analytics_event_partition_name(date) is
  'The name (in schema private) of the analytics_events partition of the month starting at month.';

-- One month's partition; false when it exists. Rows of that month in the default partition
-- move into it (the default partition may not hold rows a new partition's range covers).
create function private.create_analytics_event_partition(month date)
returns boolean
language plpgsql
set search_path = ''
as $$
declare
  name text := private.analytics_event_partition_name(month);
  lower_bound timestamptz := month::timestamp at time zone 'UTC';
  upper_bound timestamptz := (month + interval '1 month')::timestamp at time zone 'UTC';
begin
  if month <> date_trunc('month', month)::date then
    raise exception using
      errcode = 'invalid_parameter_value',
      message = format('create_analytics_event_partition: %s is not the first day of a month', month);
  end if;
  if to_regclass('private.' || name) is not null then
    return false;
  end if;
  if exists (
    select from private.analytics_events_default as d
    where d."timestamp" >= lower_bound and d."timestamp" < upper_bound
  ) then
    execute format('create table private.%I (like public.analytics_events including defaults including constraints)', name);
    execute format(
      'with moved as (delete from private.analytics_events_default where "timestamp" >= %L and "timestamp" < %L returning *)
       insert into private.%I select * from moved', lower_bound, upper_bound, name);
    execute format('alter table public.analytics_events attach partition private.%I for values from (%L) to (%L)',
      name, lower_bound, upper_bound);
  else
    execute format('create table private.%I partition of public.analytics_events for values from (%L) to (%L)',
      name, lower_bound, upper_bound);
  end if;
  execute format('revoke all on table private.%I from public, anon, authenticated, service_role', name);
  return true;
end;
$$;
comment on function private.create_analytics_event_partition(date) is
  'Creates the analytics_events partition of one month (moving that month''s rows out of the default partition); false when it exists.';
revoke all on function private.create_analytics_event_partitions(integer), private.analytics_event_partition_name(date),
  private.create_analytics_event_partition(date) from public, anon, authenticated, service_role;

-- The swap.
create temporary table analytics_events_dressing as
select s.statement, s.n
from private.analytics_events_dressing('public.analytics_events', array['analytics_events_user_id_message_id_key'])
  with ordinality as s (statement, n);

alter table public.analytics_events rename to analytics_events_unpartitioned;

create table public.analytics_events (
  id uuid not null default gen_random_uuid(),
  user_id uuid not null default auth.uid(),
  event_type text not null,
  event_name text not null,
  properties jsonb not null default '{}',
  "timestamp" timestamptz not null default now(),
  session_id text,
  user_agent text,
  ip_address inet,
  anonymous_id text,
  message_id text,
  constraint analytics_events_event_type_check check (event_type ~ '\S' and length(event_type) <= 100),
  constraint analytics_events_event_name_check check (event_name ~ '\S' and length(event_name) <= 200),
  constraint analytics_events_properties_check check (jsonb_typeof(properties) = 'object'),
  constraint analytics_events_session_id_check check (length(session_id) <= 200),
  constraint analytics_events_user_agent_check check (length(user_agent) <= 1000),
  constraint analytics_events_anonymous_id_check check (anonymous_id ~ '\S' and length(anonymous_id) <= 200),
  constraint analytics_events_message_id_check check (message_id ~ '\S' and length(message_id) <= 200)
) partition by range ("timestamp");

create table private.analytics_events_default partition of public.analytics_events default;
revoke all on table private.analytics_events_default from public, anon, authenticated, service_role;

-- Months with rows (the last two years; older or further ahead stay in the default
-- partition until retention removes them) and the months ahead.
select private.create_analytics_event_partition(m.month)
from (
  select distinct date_trunc('month', u."timestamp" at time zone 'UTC')::date as month
  from public.analytics_events_unpartitioned as u
  where u."timestamp" >= now() - interval '2 years' and u."timestamp" < now() + interval '4 months'
  order by 1
) as m;
select private.create_analytics_event_partitions(3);

insert into public.analytics_events
select id, user_id, event_type, event_name, properties, "timestamp", session_id, user_agent, ip_address,
  anonymous_id, message_id
from public.analytics_events_unpartitioned;

insert into private.analytics_event_messages (user_id, message_id, event_id, "timestamp")
select user_id, message_id, id, "timestamp"
from public.analytics_events_unpartitioned
where message_id is not null;

drop table public.analytics_events_unpartitioned;

alter table public.analytics_events
  add constraint analytics_events_pkey primary key (id, "timestamp"),
  add constraint analytics_events_user_id_fkey foreign key (user_id) references auth.users (id) on delete cascade;

do $$
declare
  statement text;
begin
  for statement in select d.statement from pg_temp.analytics_events_dressing as d order by d.n loop
    execute statement;
  end loop;
end;
$$;
drop table pg_temp.analytics_events_dressing;

-- Cross-owner scans of a time range (e.g. rollups since a watermark) read a block range
-- index: rows arrive in about time order, so it is tiny (measured on one month of 1M rows:
-- 24 kB against 21 MB for the btree, a day's rows counted in 7-10 ms against 16-26 ms).
-- The per-owner report queries keep analytics_events_user_id_timestamp_idx (per partition).
create index analytics_events_timestamp_brin on public.analytics_events using brin ("timestamp");
comment on index public.analytics_events_timestamp_brin is
  'Block range index on time for cross-owner time-range scans; per-owner queries use (user_id, timestamp).';

create trigger analytics_events_claim_message_ids
after insert on public.analytics_events
referencing new table as new_events
for each statement execute function private.claim_analytics_message_ids();

create trigger analytics_events_release_message_ids
after delete on public.analytics_events
referencing old table as old_events
for each statement execute function private.release_analytics_message_ids();

select cron.schedule(
  'beacon-analytics-partitions',
  '7 0 * * *',
  'select private.create_analytics_event_partitions(3)'
);

-- private.collect_events: as in 20261205100400_collect_events.sql, but for step 4, which
-- claims message ids in private.analytics_event_messages instead of on conflict on the
-- unique index a partitioned table cannot have.
create or replace function private.collect_events(
  write_key text,
  events jsonb,
  client_ip inet,
  client_user_agent text,
  privacy_signal boolean
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  owner uuid;
  settings record;
  total integer := jsonb_array_length(events);
  inserted integer;
  identified uuid[];
begin
  owner := private.write_key_owner(write_key);
  if owner is null then
    raise exception using
      errcode = 'invalid_authorization_specification',
      message = 'collect: the write key is unknown or revoked';
  end if;

  select coalesce(s.create_leads, true) as create_leads,
         coalesce(s.truncate_ip, false) as truncate_ip,
         coalesce(s.honor_privacy_signals, false) as honor_privacy_signals
  into settings
  from (select) as one
  left join public.collect_settings as s on s.user_id = owner;

  if privacy_signal and settings.honor_privacy_signals then
    return jsonb_build_object('accepted', 0, 'duplicates', 0, 'dropped', total, 'honor_privacy_signals', true);
  end if;

  -- 2. Leads for new emails.
  if settings.create_leads then
    insert into public.leads (user_id, email, source, first_name, last_name, company)
    select distinct on (lower(e.email))
      owner, e.email, 'website',
      nullif(left(e.properties ->> 'first_name', 200), ''),
      nullif(left(e.properties ->> 'last_name', 200), ''),
      nullif(left(e.properties ->> 'company', 200), '')
    from jsonb_to_recordset(events) as e (type text, email text, lead_id uuid, properties jsonb)
    where e.type = 'identify'
      and e.email is not null
      and not exists (
        select from public.leads as l where l.id = e.lead_id and l.user_id = owner)
    order by lower(e.email)
    on conflict (user_id, lower(email)) do nothing;
  end if;

  -- 3. Links, and the visitors' earlier events attributed.
  with identifies as (
    select distinct on (e.anonymous_id) e.anonymous_id, coalesce(by_id.id, by_email.id) as lead_id
    from jsonb_array_elements(events) with ordinality as a (event, n)
    cross join lateral jsonb_to_record(a.event) as e (type text, anonymous_id text, email text, lead_id uuid)
    left join public.leads as by_id on by_id.id = e.lead_id and by_id.user_id = owner
    left join public.leads as by_email on lower(by_email.email) = lower(e.email) and by_email.user_id = owner
    where e.type = 'identify'
      and e.anonymous_id is not null
      and coalesce(by_id.id, by_email.id) is not null
    order by e.anonymous_id, a.n desc
  ),
  linked as (
    insert into private.visitor_identities as v (user_id, anonymous_id, lead_id)
    select owner, i.anonymous_id, i.lead_id
    from identifies as i
    on conflict (user_id, anonymous_id) do update
    set lead_id = excluded.lead_id, identified_at = now()
    returning v.lead_id
  )
  select array_agg(distinct l.lead_id) into identified from linked as l;

  -- Only this update scores and matches the events it touches (see visitor_identities).
  perform set_config('beacon.event_attribution', 'on', true);
  update public.analytics_events as a
  set properties = a.properties || jsonb_build_object('lead_id', v.lead_id)
  from private.visitor_identities as v
  where v.user_id = owner
    and v.lead_id = any(identified)
    and a.user_id = owner
    and a.anonymous_id = v.anonymous_id
    and private.event_lead_id(a.user_id, a.properties) is null;
  perform set_config('beacon.event_attribution', 'off', true);

  -- 4. The events. Message ids are claimed first (private.analytics_event_messages, the
  -- first event of a batch wins); an event whose id is claimed already is a duplicate.
  with incoming as materialized (
    select
      e.*,
      gen_random_uuid() as id,
      case when e.clamped then now() else e.sent_at end as at
    from (
      select
        e.*,
        a.n,
        coalesce(e."timestamp", now()) as sent_at,
        e."timestamp" is not null
          and (e."timestamp" < now() - interval '7 days' or e."timestamp" > now() + interval '5 minutes') as clamped
      from jsonb_array_elements(events) with ordinality as a (event, n)
      cross join lateral jsonb_to_record(a.event) as e (
        type text, event text, properties jsonb, anonymous_id text, email text, lead_id uuid,
        "timestamp" timestamptz, message_id text)
    ) as e
  ),
  claimed as (
    insert into private.analytics_event_messages as m (user_id, message_id, event_id, "timestamp")
    select distinct on (i.message_id) owner, i.message_id, i.id, i.at
    from incoming as i
    where i.message_id is not null
    order by i.message_id, i.n
    on conflict (user_id, message_id) do nothing
    returning m.event_id
  ),
  saved as (
    insert into public.analytics_events as a (
      id, user_id, event_type, event_name, properties, "timestamp", user_agent, ip_address, anonymous_id, message_id)
    select
      i.id,
      owner,
      i.type,
      coalesce(i.event, case i.type when 'page' then 'page_view' else i.type end),
      coalesce(i.properties, '{}')
        || jsonb_strip_nulls(jsonb_build_object(
          'email', i.email,
          'lead_id', coalesce(i.lead_id, case when i.email is null then v.lead_id end),
          'timestamp_clamped', case when i.clamped then to_jsonb(i."timestamp") end)),
      i.at,
      left(client_user_agent, 1000),
      case when settings.truncate_ip and client_ip is not null
        then host(network(set_masklen(client_ip, case family(client_ip) when 4 then 24 else 48 end)))::inet
        else client_ip end,
      i.anonymous_id,
      i.message_id
    from incoming as i
    left join private.visitor_identities as v on v.user_id = owner and v.anonymous_id = i.anonymous_id
    where i.message_id is null or i.id in (select c.event_id from claimed as c)
    returning 1
  )
  select count(*) into inserted from saved;

  -- 5. First touch.
  update public.leads as l
  set custom_fields = l.custom_fields || jsonb_build_object('first_touch', t.touch)
  from (
    select distinct on (v.lead_id) v.lead_id,
      jsonb_strip_nulls(jsonb_build_object(
        'utm_source', a.properties -> 'utm_source', 'utm_medium', a.properties -> 'utm_medium',
        'utm_campaign', a.properties -> 'utm_campaign', 'utm_term', a.properties -> 'utm_term',
        'utm_content', a.properties -> 'utm_content', 'url', a.properties -> 'url',
        'referrer', a.properties -> 'referrer', 'at', to_jsonb(a."timestamp"))) as touch
    from private.visitor_identities as v
    join public.analytics_events as a on a.user_id = owner and a.anonymous_id = v.anonymous_id
    where v.user_id = owner
      and v.lead_id = any(identified)
      and a.event_type = 'page'
      and a.properties ?| array['utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content']
    order by v.lead_id, a."timestamp", a.id
  ) as t
  where l.id = t.lead_id
    and not l.custom_fields ? 'first_touch';

  return jsonb_build_object('accepted', total, 'duplicates', total - inserted, 'dropped', 0,
    'honor_privacy_signals', settings.honor_privacy_signals);
end;
$$;
comment on function private.collect_events(text, jsonb, inet, text, boolean) is
  'The collect function''s write: one request''s validated events for the write key''s owner (identities, attribution, idempotent insert, first touch).';
