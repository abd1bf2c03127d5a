-- private.oauth_states: one row per OAuth connection in progress, from
-- POST /oauth/{platform}/start until the provider sends the browser back to
-- GET /oauth/{platform}/callback. The state itself travels only in the browser; we keep its
-- SHA-256, so a leaked table cannot be replayed. A row is consumed exactly once
-- (`delete ... returning`), lives ten minutes, and a pg_cron job sweeps the ones never used.
-- No client role can reach it: the private schema is closed to them and so is the table.

create table private.oauth_states (
  state_hash bytea primary key,
  user_id uuid not null references auth.users (id) on delete cascade,
  platform text not null,
  code_verifier text,
  redirect_to text not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null default now() + interval '10 minutes',
  constraint oauth_states_state_hash_check check (octet_length(state_hash) = 32),
  constraint oauth_states_platform_check check (platform in ('twitter', 'facebook', 'instagram', 'linkedin')),
  constraint oauth_states_code_verifier_check check (code_verifier ~ '^[A-Za-z0-9._~-]{43,128}$'),
  constraint oauth_states_redirect_to_check check (redirect_to ~ '^https?://' and length(redirect_to) <= 2048),
  constraint oauth_states_expires_at_check check (expires_at > created_at)
);
comment on table private.oauth_states is
  'Single-use OAuth states between /oauth/{platform}/start and its callback; only the state''s SHA-256 is stored.';
comment on column private.oauth_states.state_hash is 'SHA-256 of the state sent to the provider.';
comment on column private.oauth_states.code_verifier is 'PKCE verifier (RFC 7636), for platforms that use PKCE.';
comment on column private.oauth_states.redirect_to is 'Where the browser goes after the callback; checked against the allow-list at start.';

create index oauth_states_user_id_idx on private.oauth_states (user_id);
create index oauth_states_expires_at_idx on private.oauth_states (expires_at);

revoke all on table private.oauth_states from public, anon, authenticated, service_role;

create function private.purge_expired_oauth_states()
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
revoke all on function private.purge_expired_oauth_states() from public, anon, authenticated, service_role;

-- A stable job name: re-running the migration updates the job instead of adding another.
select cron.schedule(
  'beacon-purge-oauth-states',
  '*/30 * * * *',
  'select private.purge_expired_oauth_states()'
);
