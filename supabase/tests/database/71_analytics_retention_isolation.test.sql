-- Retention's global step cannot stop the owners' deletes (migration
-- analytics_retention_global_isolated): when deleting the default partition's old rows fails,
-- nothing of the global step is done (the old month stays for the next run), the reason is
-- kept and returned, and bob's events older than his 30 days are deleted all the same. The
-- next run, with nothing in the way, drops the month and clears the reason.
begin;
\ir _helpers.psql

select plan(7);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('bob');
end;
$$;

insert into public.collect_settings (user_id, retention_days) values (tests.get_user_id('bob'), 30);
create table tests.old_month as
select private.analytics_event_partition_name(date_trunc('month', (now() - interval '500 days') at time zone 'UTC')::date) as name;
select private.create_analytics_event_partition(date_trunc('month', (now() - interval '500 days') at time zone 'UTC')::date);
insert into public.analytics_events (user_id, event_type, event_name, "timestamp")
values (tests.get_user_id('alice'), 'track', 'alice 500 days', now() - interval '500 days'),
       (tests.get_user_id('bob'), 'track', 'bob 40 days', now() - interval '40 days'),
       (tests.get_user_id('bob'), 'track', 'bob 10 days', now() - interval '10 days');

-- The global step fails: the default partition's rows cannot be deleted (a statement trigger
-- fires only when the partition itself is the target, so the owners' deletes pass).
create function tests.refuse() returns trigger language plpgsql as $$
begin
  raise exception 'the default partition is being reorganised';
end;
$$;
create trigger refuse before delete on private.analytics_events_default
for each statement execute function tests.refuse();

select is(
  (select r ->> 'global_error' from private.apply_analytics_retention() as r),
  'the default partition is being reorganised (P0001)',
  'the run says why its global step failed'
);
select is(
  (select array_agg(event_name order by event_name) from public.analytics_events
   where user_id in (tests.get_user_id('alice'), tests.get_user_id('bob'))),
  array['alice 500 days', 'bob 10 days'],
  'bob''s event older than his retention is deleted all the same; the old month is not dropped'
);
select isnt(to_regclass('private.' || (select name from tests.old_month)), null, 'the old month is still there');
select is(
  (select error from private.analytics_retention_global_failure),
  'the default partition is being reorganised (P0001)',
  'the reason is kept'
);

drop trigger refuse on private.analytics_events_default;
select ok(
  not (private.apply_analytics_retention() ? 'global_error'),
  'the next run, with nothing in the way, completes'
);
select is(to_regclass('private.' || (select name from tests.old_month)), null, 'and drops the old month');
select is_empty($$select from private.analytics_retention_global_failure$$, 'and clears the reason');

select * from finish();
rollback;
