-- Back to purge_jobs and purge_email_unsubscribe_keys as one unguarded DELETE (migrations jobs and
-- email_unsubscribe_keys), and the OAuth-state purge with its own loop (oauth_states_purge_isolation).
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

create or replace function private.purge_email_unsubscribe_keys()
returns integer
language sql
set search_path = ''
as $$
  with purged as (
    delete from private.email_unsubscribe_keys
    where kept_until < now()
    returning 1
  )
  select count(*)::integer from purged
$$;
comment on function private.purge_email_unsubscribe_keys() is
  'Cron job body: forgets unsubscribe keys past kept_until; returns how many.';

create or replace function private.purge_jobs()
returns integer
language sql
set search_path = ''
as $$
  with purged as (
    delete from private.jobs as j
    where j.status in ('done', 'failed', 'dead')
      and j.updated_at < now() - interval '7 days'
    returning j.id
  )
  select count(*)::integer from purged
$$;
comment on function private.purge_jobs() is
  'Deletes jobs finished (done, failed, dead) more than 7 days ago; their keys may then be enqueued again.';

alter table private.email_unsubscribe_keys
  drop column purge_error;

alter table private.jobs
  drop column purge_error;

drop function private.purge_rows(regclass, text);
