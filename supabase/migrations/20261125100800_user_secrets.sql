-- user_secrets: per-user API keys (e.g. RESEND_API_KEY), encrypted by the secrets edge
-- function with keys Postgres never sees. Clients list names and dates and may delete;
-- only the function (as the service) writes, and nothing ever returns a plaintext.

create table public.user_secrets (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  secret_name text not null,
  encrypted_value text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint user_secrets_secret_name_check check (secret_name ~ '^[A-Z][A-Z0-9_]{0,63}$'),
  constraint user_secrets_user_id_secret_name_key unique (user_id, secret_name)
);
comment on table public.user_secrets is
  'Encrypted per-user secrets; clients see names and dates only, never encrypted_value.';

create index user_secrets_user_id_created_at_idx on public.user_secrets (user_id, created_at desc);

create trigger set_updated_at
before update on public.user_secrets
for each row execute function private.set_updated_at();

select private.secure_tenant_table('public.user_secrets');
grant select (id, user_id, secret_name, created_at, updated_at) on table public.user_secrets to authenticated;
grant delete on table public.user_secrets to authenticated;
