-- The nightly purges of finished jobs and of expired unsubscribe keys cannot be stopped by one
-- owner's row (migration purges_isolated): with mallory's row refusing to be deleted (a trigger
-- here, as in 20_oauth), one run deletes alice's, leaves mallory's with the reason, and the
-- next run, once the row can go, deletes it.
begin;
\ir _helpers.psql

select plan(14);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

create function tests.refuse_mallorys_deletion()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if old.user_id = tests.get_user_id('mallory') then
    raise exception 'this row is held for an investigation';
  end if;
  return old;
end;
$$;

-- Finished jobs ------------------------------------------------------------------------------------
-- Finished jobs of others (on a developer's database) stay out of this file's purges.
update private.jobs set updated_at = now() where status in ('done', 'failed', 'dead');
select private.register_job_kind('test_purge', 1, 60);
insert into private.jobs (kind, key, user_id, status, updated_at)
values ('test_purge', 'alice-old', tests.get_user_id('alice'), 'done', now() - interval '8 days'),
       ('test_purge', 'alice-dead', tests.get_user_id('alice'), 'dead', now() - interval '8 days'),
       ('test_purge', 'alice-recent', tests.get_user_id('alice'), 'done', now() - interval '6 days'),
       ('test_purge', 'alice-ready', tests.get_user_id('alice'), 'ready', now() - interval '8 days'),
       ('test_purge', 'mallory-old', tests.get_user_id('mallory'), 'failed', now() - interval '8 days');

select is(private.purge_jobs(), 3, 'with nothing in the way, the purge deletes every job finished over 7 days ago');
select results_eq(
  $$select key from private.jobs where kind = 'test_purge' order by key$$,
  $$values ('alice-ready'), ('alice-recent')$$,
  'recent and waiting jobs stay'
);

insert into private.jobs (kind, key, user_id, status, updated_at)
values ('test_purge', 'alice-old', tests.get_user_id('alice'), 'done', now() - interval '8 days'),
       ('test_purge', 'mallory-old', tests.get_user_id('mallory'), 'failed', now() - interval '8 days');
create trigger refuse_deletion
before delete on private.jobs
for each row execute function tests.refuse_mallorys_deletion();
select is(private.purge_jobs(), 1, 'the purge deletes alice''s job, though mallory''s cannot be deleted');
select results_eq(
  $$select key, purge_error from private.jobs where kind = 'test_purge' and status <> 'ready' and updated_at < now() - interval '7 days'$$,
  $$values ('mallory-old', 'this row is held for an investigation (P0001)'::text)$$,
  'only mallory''s job is left, with the reason'
);
select is((select status from private.jobs where key = 'mallory-old'), 'failed', 'and it is otherwise untouched');
drop trigger refuse_deletion on private.jobs;
select is(private.purge_jobs(), 1, 'the next run deletes it');

select results_eq(
  $$select schedule, command from cron.job where jobname = 'beacon-purge-jobs'$$,
  $$values ('41 3 * * *'::text, 'select private.purge_jobs()'::text)$$,
  'cron purges finished jobs nightly'
);

-- Expired unsubscribe keys -------------------------------------------------------------------------
update private.email_unsubscribe_keys set kept_until = now() + interval '1 day' where kept_until < now();
insert into private.email_unsubscribe_keys (delivery_id, user_id, email, kept_until)
values (gen_random_uuid(), tests.get_user_id('alice'), 'old@example.test', now() - interval '1 second'),
       (gen_random_uuid(), tests.get_user_id('alice'), 'kept@example.test', now() + interval '1 day'),
       (gen_random_uuid(), tests.get_user_id('mallory'), 'held@example.test', now() - interval '1 second');

select is(private.purge_email_unsubscribe_keys(), 2, 'with nothing in the way, the purge deletes every expired key');
select results_eq(
  $$select email from private.email_unsubscribe_keys where user_id in (tests.get_user_id('alice'), tests.get_user_id('mallory'))$$,
  $$values ('kept@example.test')$$,
  'a key still kept stays'
);

insert into private.email_unsubscribe_keys (delivery_id, user_id, email, kept_until)
values (gen_random_uuid(), tests.get_user_id('alice'), 'old@example.test', now() - interval '1 second'),
       (gen_random_uuid(), tests.get_user_id('mallory'), 'held@example.test', now() - interval '1 second');
create trigger refuse_deletion
before delete on private.email_unsubscribe_keys
for each row execute function tests.refuse_mallorys_deletion();
select is(private.purge_email_unsubscribe_keys(), 1,
  'the purge deletes alice''s expired key, though mallory''s cannot be deleted');
select results_eq(
  $$select email, purge_error from private.email_unsubscribe_keys where kept_until < now()$$,
  $$values ('held@example.test', 'this row is held for an investigation (P0001)'::text)$$,
  'only mallory''s key is left, with the reason'
);
drop trigger refuse_deletion on private.email_unsubscribe_keys;
select is(private.purge_email_unsubscribe_keys(), 1, 'the next run deletes it');

-- The helper is no one's to call but the jobs'.
select ok(
  not has_function_privilege(r, 'private.purge_rows(regclass, text)', 'EXECUTE'),
  format('%s may not run private.purge_rows', r))
from unnest(array['anon', 'authenticated']) as r;

select * from finish();
rollback;
