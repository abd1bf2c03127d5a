-- social_connections gains the state an app shows next to each connection (which scopes were
-- granted, whether it works, why not) and the bookkeeping of the token refresh job. Apps may
-- read all of it and write none of it: only the oauth function (as the service) does.
--
-- status and is_active:
--   active        the tokens work; is_active is true unless the user switched it off
--   needs_reauth  the provider refused a refresh, or the token expires and the platform has
--                 no refresh grant: the user must connect again (last_error says why).
--                 is_active is false once the token no longer works.
--   disconnected  the user switched the connection off (is_active = false through the API)

alter table public.social_connections
  add column scopes text[] not null default '{}',
  add column status text not null default 'active',
  add column last_error text,
  add column last_refreshed_at timestamptz,
  add column refresh_failures integer not null default 0,
  add column next_refresh_at timestamptz,
  add column accounts jsonb not null default '[]',
  add constraint social_connections_scopes_check
    check (array_position(scopes, null) is null and cardinality(scopes) <= 100),
  add constraint social_connections_status_check
    check (status in ('active', 'needs_reauth', 'disconnected')),
  add constraint social_connections_last_error_check check (length(last_error) <= 1000),
  add constraint social_connections_refresh_failures_check check (refresh_failures >= 0),
  add constraint social_connections_accounts_check check (jsonb_typeof(accounts) = 'array');

comment on column public.social_connections.scopes is 'The scopes the user granted, as the provider reported them.';
comment on column public.social_connections.status is 'active, needs_reauth (connect again) or disconnected (switched off by the user).';
comment on column public.social_connections.last_error is 'Why the last refresh failed, or why the connection needs re-authorisation.';
comment on column public.social_connections.last_refreshed_at is 'When the tokens were last obtained, by connecting or by a refresh.';
comment on column public.social_connections.refresh_failures is 'Refresh attempts that failed in a row; reset by a success.';
comment on column public.social_connections.next_refresh_at is 'Not refreshed before this time: a retry after a failure, or a running refresh''s lease.';
comment on column public.social_connections.accounts is 'What the connection can publish as besides the user, e.g. Facebook pages: [{"id", "name"}]; never tokens.';

-- Rows switched off before this migration read as disconnected.
update public.social_connections
set status = 'disconnected'
where not is_active;

grant select (scopes, status, last_error, last_refreshed_at, refresh_failures, next_refresh_at, accounts)
  on table public.social_connections to authenticated;

-- Keeps status in step when an app switches a connection off or on through is_active (the
-- one state column it may write). The service sets both columns itself; then this stays out.
create function private.sync_social_connection_status()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.status is distinct from old.status or new.is_active is not distinct from old.is_active then
    return new;
  end if;
  if new.is_active and old.status = 'needs_reauth' then
    raise exception using
      errcode = 'check_violation',
      message = format('the %s connection needs re-authorisation and cannot be switched on', old.platform),
      detail = old.last_error,
      hint = format('Connect it again: POST /functions/v1/oauth/%s/start.', old.platform);
  end if;
  if old.status <> 'needs_reauth' then
    new.status := case when new.is_active then 'active' else 'disconnected' end;
  end if;
  return new;
end;
$$;
comment on function private.sync_social_connection_status() is
  'Trigger: is_active switched by an app moves status between active and disconnected; a connection needing re-authorisation cannot be switched on.';
revoke all on function private.sync_social_connection_status() from public, anon, authenticated, service_role;

create trigger sync_status
before update of is_active, status on public.social_connections
for each row execute function private.sync_social_connection_status();

-- What the refresh job scans: connections with an expiry, by expiry.
create index social_connections_expires_at_idx
on public.social_connections (expires_at)
where expires_at is not null;
