drop index public.social_connections_expires_at_idx;
drop trigger sync_status on public.social_connections;
drop function private.sync_social_connection_status();
alter table public.social_connections
  drop column scopes,
  drop column status,
  drop column last_error,
  drop column last_refreshed_at,
  drop column refresh_failures,
  drop column next_refresh_at,
  drop column accounts;
