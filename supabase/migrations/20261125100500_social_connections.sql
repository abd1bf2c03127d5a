-- social_connections: one OAuth connection per user and platform. The tokens are
-- ciphertexts written by the oauth edge function; no client may ever read them back.

create table public.social_connections (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  platform text not null,
  platform_user_id text not null,
  username text,
  access_token text not null,
  refresh_token text,
  expires_at timestamptz,
  is_active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint social_connections_platform_check check (platform in ('twitter', 'facebook', 'instagram', 'linkedin')),
  constraint social_connections_platform_user_id_check check (platform_user_id ~ '\S' and length(platform_user_id) <= 200),
  constraint social_connections_username_check check (length(username) <= 200),
  constraint social_connections_user_id_platform_key unique (user_id, platform)
);
comment on table public.social_connections is
  'OAuth connections to social platforms; tokens are encrypted and never readable by clients.';

create index social_connections_user_id_created_at_idx on public.social_connections (user_id, created_at desc);

create trigger set_updated_at
before update on public.social_connections
for each row execute function private.set_updated_at();

select private.secure_tenant_table('public.social_connections');
grant select (id, user_id, platform, platform_user_id, username, expires_at, is_active, created_at, updated_at)
  on table public.social_connections to authenticated;
grant update (username, is_active) on table public.social_connections to authenticated;
grant delete on table public.social_connections to authenticated;
