-- The purges of finished jobs and of expired unsubscribe keys cannot be stopped by one owner's
-- row (issue 8 §1): each was one DELETE over every owner, so a row that could not be deleted
-- (a lock held too long, a trigger that refuses) failed the job for everyone, every night, and
-- said nothing. They now purge as the OAuth-state purge did since oauth_states_purge_isolation:
-- one statement, and when it fails, row by row, each in a subtransaction of its own; a row that
-- cannot be deleted keeps the reason in its purge_error and is tried again on the next run,
-- while the others are gone. private.purge_rows holds that pattern once for the three purges.

create function private.purge_rows(p_table regclass, p_where text)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  purged integer := 0;
  deleted integer;
  row_id tid;
begin
  begin
    execute format('delete from %s where %s', p_table, p_where);
    get diagnostics purged = row_count;
    return purged;
  exception when others then
    raise warning 'purge_rows: % (%) purging %; deleting one row at a time', sqlerrm, sqlstate, p_table;
  end;
  -- By ctid: one loop for tables whose keys differ in name and type. The condition is checked
  -- again, so a row changed since it was listed is left for the next run.
  for row_id in execute format('select ctid from %s where %s', p_table, p_where) loop
    begin
      execute format('delete from %s where ctid = $1 and (%s)', p_table, p_where) using row_id;
      get diagnostics deleted = row_count;
      purged := purged + deleted;
    exception when others then
      begin
        execute format('update %s set purge_error = $2 where ctid = $1', p_table)
        using row_id, left(format('%s (%s)', sqlerrm, sqlstate), 1000);
      exception when others then
        raise warning 'purge_rows: a row of % (ctid %) cannot be marked: %', p_table, row_id, sqlerrm;
      end;
    end;
  end loop;
  return purged;
end;
$$;
comment on function private.purge_rows(regclass, text) is
  'Deletes the rows of p_table matching p_where (trusted SQL, never user input) in one statement, and when that fails, one by one, each in its own subtransaction; a row that cannot be deleted keeps the reason in its purge_error column. Returns how many were deleted.';
revoke all on function private.purge_rows(regclass, text) from public, anon, authenticated, service_role;

alter table private.jobs
  add column purge_error text,
  add constraint jobs_purge_error_check check (length(purge_error) <= 1000);
comment on column private.jobs.purge_error is
  'Why private.purge_jobs could not delete this finished job on its last run (retried every run).';

alter table private.email_unsubscribe_keys
  add column purge_error text,
  add constraint email_unsubscribe_keys_purge_error_check check (length(purge_error) <= 1000);
comment on column private.email_unsubscribe_keys.purge_error is
  'Why private.purge_email_unsubscribe_keys could not delete this expired key on its last run (retried every run).';

create or replace function private.purge_jobs()
returns integer
language sql
set search_path = ''
as $$
  select private.purge_rows('private.jobs',
    $w$status in ('done', 'failed', 'dead') and updated_at < now() - interval '7 days'$w$)
$$;
comment on function private.purge_jobs() is
  'Deletes jobs finished (done, failed, dead) more than 7 days ago, one by one when the set fails (private.purge_rows); their keys may then be enqueued again. Returns how many.';

create or replace function private.purge_email_unsubscribe_keys()
returns integer
language sql
set search_path = ''
as $$
  select private.purge_rows('private.email_unsubscribe_keys', 'kept_until < now()')
$$;
comment on function private.purge_email_unsubscribe_keys() is
  'Cron job body: forgets unsubscribe keys past kept_until, one by one when the set fails (private.purge_rows); returns how many.';

-- The OAuth-state purge, same behaviour, through the shared helper.
create or replace function private.purge_expired_oauth_states()
returns integer
language sql
set search_path = ''
as $$
  select private.purge_rows('private.oauth_states', 'expires_at < now()')
$$;
comment on function private.purge_expired_oauth_states() is
  'Cron job body: deletes OAuth states nobody came back with, one by one when the set fails (private.purge_rows); returns how many.';
