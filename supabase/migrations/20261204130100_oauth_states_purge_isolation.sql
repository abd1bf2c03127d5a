-- The purge of expired OAuth states cannot be stopped by one row (issue 8 §1): it deletes
-- every expired state in one statement, and when that fails, deletes them one by one, each in
-- its own subtransaction; a state that cannot be deleted keeps the reason in purge_error and
-- is tried again on the next run, while the others are gone.

alter table private.oauth_states
  add column purge_error text,
  add constraint oauth_states_purge_error_check check (length(purge_error) <= 1000);

comment on column private.oauth_states.purge_error is
  'Why the purge could not delete this expired state on its last run (retried every run).';

create or replace function private.purge_expired_oauth_states()
returns integer
language plpgsql
set search_path = ''
as $$
declare
  purged integer := 0;
  expired bytea;
begin
  begin
    delete from private.oauth_states
    where expires_at < now();
    get diagnostics purged = row_count;
    return purged;
  exception when others then
    raise warning 'purge_expired_oauth_states: % (%); deleting one state at a time', sqlerrm, sqlstate;
  end;
  for expired in
    select state_hash
    from private.oauth_states
    where expires_at < now()
  loop
    begin
      delete from private.oauth_states
      where state_hash = expired;
      purged := purged + 1;
    exception when others then
      begin
        update private.oauth_states
        set purge_error = left(format('%s (%s)', sqlerrm, sqlstate), 1000)
        where state_hash = expired;
      exception when others then
        raise warning 'purge_expired_oauth_states: state % cannot be marked: %', encode(expired, 'hex'), sqlerrm;
      end;
    end;
  end loop;
  return purged;
end;
$$;
comment on function private.purge_expired_oauth_states() is
  'Cron job body: deletes OAuth states nobody came back with, one by one when the set fails; returns how many.';
