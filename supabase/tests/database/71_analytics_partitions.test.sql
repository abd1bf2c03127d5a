-- analytics_events partitioned by month: the pg_cron job keeps this month's and the next
-- three months' partitions (a second run is a no-op, a late run moves the default
-- partition's rows of the month into it), any timestamp lands (default partition), message
-- ids stay unique per owner whatever the month, and retention drops whole months older than
-- every owner's retention and deletes per owner in between, one owner's failure apart.
begin;
\ir _helpers.psql

select plan(32);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('bob');
  perform tests.create_user('carol');
end;
$$;

create function tests.month(months integer) returns date language sql as $$
  select (date_trunc('month', now() at time zone 'UTC') + make_interval(months => months))::date
$$;
create function tests.partition_of(event_name text) returns text language sql as $$
  select tableoid::regclass::text from public.analytics_events as a where a.event_name = partition_of.event_name
$$;

-- ==== partitions ahead ====
select is(
  (select relkind::text from pg_class where oid = 'public.analytics_events'::regclass), 'p',
  'analytics_events is partitioned');
select is(
  (select pg_get_partkeydef('public.analytics_events'::regclass)), 'RANGE ("timestamp")',
  'by range of its timestamp');
do $$
begin
  execute format('drop table private.%I', private.analytics_event_partition_name(tests.month(3)));
end;
$$;
select is(
  (select pg_get_indexdef('public.analytics_events_timestamp_brin'::regclass)),
  'CREATE INDEX analytics_events_timestamp_brin ON ONLY public.analytics_events USING brin ("timestamp")',
  'a BRIN index on time');
select is_empty(
  $$select c.relname from pg_inherits as i join pg_class as c on c.oid = i.inhrelid
    where i.inhparent = 'public.analytics_events'::regclass
      and not exists (select from pg_index as x join pg_class as ic on ic.oid = x.indexrelid
                      where x.indrelid = c.oid and pg_get_indexdef(x.indexrelid) like '%(user_id, "timestamp" DESC)')$$,
  'every partition has its (user_id, timestamp) btree');
select isnt_empty(
  $$select private.create_analytics_event_partitions(3)$$,
  'the job creates a missing partition');
select is(
  (select array_agg(to_regclass('private.' || private.analytics_event_partition_name(tests.month(m))) is not null order by m)
   from generate_series(0, 3) as m),
  array[true, true, true, true],
  'this month and the next three have partitions');
select is_empty($$select private.create_analytics_event_partitions(3)$$, 'a second run creates nothing');
select is(
  (select cron.job.command from cron.job where jobname = 'beacon-analytics-partitions'),
  'select private.create_analytics_event_partitions(3)', 'pg_cron runs it as beacon-analytics-partitions');
select throws_ok($$select private.create_analytics_event_partitions(-1)$$, '22023',
  'create_analytics_event_partitions: months_ahead must be 0..120, got -1', 'a negative horizon is refused');
select throws_ok($$select private.create_analytics_event_partition('2027-01-15')$$, '22023',
  'create_analytics_event_partition: 2027-01-15 is not the first day of a month', 'a month starts on its first day');

-- ==== any timestamp lands ====
insert into public.analytics_events (user_id, event_type, event_name, "timestamp")
values (tests.get_user_id('alice'), 'track', 'ancient', '1990-01-01'),
       (tests.get_user_id('alice'), 'track', 'far future', '2200-06-01'),
       (tests.get_user_id('alice'), 'track', 'now', now()),
       (tests.get_user_id('alice'), 'track', 'in six months', (tests.month(6)::timestamp at time zone 'UTC') + interval '1 day');
select is(tests.partition_of('ancient'), 'private.analytics_events_default', 'an event from 1990 lands in the default partition');
select is(tests.partition_of('far future'), 'private.analytics_events_default', 'so does one from 2200');
select is(tests.partition_of('now'), 'private.' || private.analytics_event_partition_name(tests.month(0)),
  'an event of now lands in this month''s partition');
select is(private.create_analytics_event_partition(tests.month(6)), true, 'a late run makes the month''s partition');
select is(tests.partition_of('in six months'), 'private.' || private.analytics_event_partition_name(tests.month(6)),
  'and the month''s rows move there from the default partition');
select is(private.create_analytics_event_partition(tests.month(6)), false, 'made once');

-- ==== the partitions are no client's ====
select tests.authenticate_as('alice');
select throws_ok($$select * from private.analytics_events_default$$, '42501', null,
  'a client cannot read a partition directly');
select is((select count(*)::integer from public.analytics_events), 4, 'alice reads her events through the table');
select tests.authenticate_as('bob');
select is((select count(*)::integer from public.analytics_events), 0, 'bob reads none of them');

-- ==== message ids, whatever the month ====
insert into public.analytics_events (event_type, event_name, "timestamp", message_id)
values ('track', 'bob once', now(), 'bob-1');
select throws_ok(
  $$insert into public.analytics_events (event_type, event_name, "timestamp", message_id) values ('track', 'bob again', '2001-01-01', 'bob-1')$$,
  '23505', 'duplicate key value violates unique constraint "analytics_events_user_id_message_id_key"',
  'another event with an owner''s message id fails, in another month too');
delete from public.analytics_events where message_id = 'bob-1';
select lives_ok(
  $$insert into public.analytics_events (event_type, event_name, "timestamp", message_id) values ('track', 'bob again', now() - interval '40 days', 'bob-1')$$,
  'a deleted event frees its message id');
select tests.clear_authentication();

-- ==== retention ====
select throws_ok($$insert into public.collect_settings (user_id, retention_days) values (tests.get_user_id('bob'), 0)$$,
  '23514', null, 'a retention under one day is refused');
insert into public.collect_settings (user_id, retention_days)
values (tests.get_user_id('bob'), 30), (tests.get_user_id('carol'), 100);
select private.create_analytics_event_partition(
  date_trunc('month', (now() - interval '500 days') at time zone 'UTC')::date);
insert into public.analytics_events (user_id, event_type, event_name, "timestamp", message_id)
values (tests.get_user_id('alice'), 'track', 'alice 500 days', now() - interval '500 days', 'alice-old'),
       (tests.get_user_id('alice'), 'track', 'alice 200 days', now() - interval '200 days', null),
       (tests.get_user_id('bob'), 'track', 'bob 10 days', now() - interval '10 days', null),
       (tests.get_user_id('carol'), 'track', 'carol 150 days', now() - interval '150 days', null),
       (tests.get_user_id('carol'), 'track', 'carol 50 days', now() - interval '50 days', null);

-- bob's deletes fail (say, a trigger of his): carol's still happen.
create function tests.refuse_bob() returns trigger language plpgsql as $$
begin
  if exists (select from old_events where user_id = tests.get_user_id('bob')) then
    raise exception 'bob''s events are on legal hold';
  end if;
  return null;
end;
$$;
create trigger refuse_bob after delete on public.analytics_events
referencing old table as old_events for each statement execute function tests.refuse_bob();

select is(
  private.apply_analytics_retention() - 'dropped_partitions',
  '{"longest_days": 400, "deleted": 1, "failed_owners": 1}'::jsonb,
  'retention: 400 days for all, carol''s old event deleted, bob failed');
select is(
  to_regclass('private.' || private.analytics_event_partition_name(
    date_trunc('month', (now() - interval '500 days') at time zone 'UTC')::date)), null,
  'the month older than every owner''s retention is dropped whole');
select is(
  (select array_agg(event_name order by event_name) from public.analytics_events
   where user_id in (tests.get_user_id('alice'), tests.get_user_id('bob'), tests.get_user_id('carol'))),
  array['alice 200 days', 'bob 10 days', 'bob again', 'carol 50 days', 'far future', 'in six months', 'now'],
  'the 1990 event and the dropped month are gone; carol keeps 100 days; bob keeps all for now; alice keeps 400 days');
select is(
  (select error from private.analytics_retention_failures where user_id = tests.get_user_id('bob')),
  'bob''s events are on legal hold', 'bob''s failure is recorded with its reason');
select is(
  (select count(*)::integer from private.analytics_event_messages where message_id = 'alice-old'), 0,
  'the dropped events'' message ids are forgotten');

drop trigger refuse_bob on public.analytics_events;
select is(
  private.apply_analytics_retention(),
  '{"longest_days": 400, "dropped_partitions": [], "deleted": 1, "failed_owners": 0}'::jsonb,
  'the next run deletes bob''s event older than 30 days');
select is(
  (select array_agg(event_name order by event_name) from public.analytics_events where user_id = tests.get_user_id('bob')),
  array['bob 10 days'], 'bob keeps 30 days');
select is_empty($$select from private.analytics_retention_failures$$, 'and his failure is cleared');
select is(
  private.apply_analytics_retention(),
  '{"longest_days": 400, "dropped_partitions": [], "deleted": 0, "failed_owners": 0}'::jsonb,
  'a second run is a no-op');

update public.collect_settings set retention_days = 3650 where user_id = tests.get_user_id('carol');
select is(private.apply_analytics_retention() -> 'longest_days', '3650'::jsonb,
  'the longest retention of any owner sets what whole months may go');

select * from finish();
rollback;
