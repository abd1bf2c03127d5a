create or replace function private.purge_expired_oauth_states()
returns integer
language sql
set search_path = ''
as $$
  with purged as (
    delete from private.oauth_states
    where expires_at < now()
    returning 1
  )
  select count(*)::integer from purged
$$;
comment on function private.purge_expired_oauth_states() is
  'Cron job body: deletes OAuth states nobody came back with; returns how many.';

alter table private.oauth_states
  drop column purge_error;
