-- The Docker-free stand-in for what the Supabase Postgres image provides before any
-- migration runs. Applied once by `scripts/db start` as the cluster superuser
-- (supabase_admin) on a new cluster. On real Supabase (hosted or `supabase start`) this
-- file is NOT applied: the platform already has all of it.
--
-- Kept deliberately small: only the roles, schemas, functions and settings our
-- migrations and tests rely on, written from Supabase's public documentation.

-- Roles -------------------------------------------------------------------------------

-- `postgres` is not a superuser on hosted Supabase: anything a migration does that needs
-- superuser must fail here first.
create role postgres with login createdb createrole replication bypassrls password 'postgres';
create role anon nologin noinherit;
create role authenticated nologin noinherit;
create role service_role nologin noinherit bypassrls;
create role authenticator with login noinherit password 'postgres';
grant anon, authenticated, service_role to authenticator;
grant anon, authenticated, service_role to postgres;

alter database postgres owner to postgres;

-- Schemas and extensions --------------------------------------------------------------

create schema extensions;
grant usage on schema extensions to postgres, anon, authenticated, service_role;
create extension pgcrypto with schema extensions;
create extension pgtap with schema extensions;
create extension pg_cron with schema pg_catalog;
-- `supabase db lint` runs plpgsql_check; on hosted Supabase postgres may enable it itself.
create extension plpgsql_check with schema extensions;
grant usage on schema cron to postgres;
grant all on all tables in schema cron to postgres;
grant all on all sequences in schema cron to postgres;
grant all on all functions in schema cron to postgres;

grant usage on schema public to anon, authenticated, service_role;

-- Hosted Supabase no longer grants anything on new public tables automatically: every
-- migration grants exactly what each role needs. So there are no default privileges here.

-- Supabase sets this search_path on its API roles and on postgres.
alter role postgres set search_path = "$user", public, extensions;
alter role anon set search_path = "$user", public, extensions;
alter role authenticated set search_path = "$user", public, extensions;
alter role service_role set search_path = "$user", public, extensions;

-- PostgREST reads the exposed schemas from this setting; the advisors read it too.
alter database postgres set pgrst.db_schemas = 'public, graphql_public';

-- auth: the subset of GoTrue's schema that tables and policies reference --------------

create schema auth;
grant usage on schema auth to postgres, anon, authenticated, service_role;

create table auth.users (
  instance_id uuid,
  id uuid primary key default gen_random_uuid(),
  aud varchar(255) default 'authenticated',
  role varchar(255) default 'authenticated',
  email varchar(255),
  encrypted_password varchar(255),
  email_confirmed_at timestamptz,
  raw_app_meta_data jsonb default '{"provider": "email", "providers": ["email"]}',
  raw_user_meta_data jsonb default '{}',
  is_super_admin boolean,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  phone text unique default null,
  is_anonymous boolean not null default false,
  deleted_at timestamptz
);
create unique index users_email_partial_key on auth.users (email) where email is not null;
-- postgres manages auth users on hosted Supabase (dashboard, tests, seeds).
grant select, insert, update, delete, references on auth.users to postgres;
grant select on auth.users to service_role;

create function auth.uid() returns uuid
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;

create function auth.role() returns text
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;

create function auth.email() returns text
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.email', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
  )::text
$$;

create function auth.jwt() returns jsonb
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;

grant execute on function auth.uid(), auth.role(), auth.email(), auth.jwt()
  to postgres, anon, authenticated, service_role;
