-- write_keys: publishable keys that let a website or an app send analytics events to the
-- collect function (POST /functions/v1/collect) for their owner. A key (bk_pub_ + 48 hex
-- digits, 192 random bits) is shown once, by create_write_key; only its SHA-256 digest and
-- its first characters (to recognise it in a list) are stored. A revoked key stops working
-- at once: the collect function looks the digest up, among unrevoked keys, on every request.
--
--   public.create_write_key(name) → (id, key, key_prefix)   the key, this one time
--   public.revoke_write_key(id)   → revoked_at               idempotent; "not found" alike
--                                                            for another owner's key
-- Owners list their keys with select, rename them with update, and delete them; they never
-- read the digest nor write it, the prefix or the times (column grants, triggers).
--   private.write_key_owner(key)  → the owner's id, or null  (the collect function's lookup)

create table public.write_keys (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  name text not null,
  key_prefix text not null,
  key_hash bytea not null,
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  revoked_at timestamptz,
  constraint write_keys_name_check check (name ~ '\S' and length(name) <= 200),
  constraint write_keys_key_prefix_check check (key_prefix ~ '^bk_pub_[0-9a-f]{8}$'),
  constraint write_keys_key_hash_check check (length(key_hash) = 32)
);
comment on table public.write_keys is
  'Publishable write keys of the collect function, per owner; stored as SHA-256 digests, shown once at creation.';
comment on column public.write_keys.key_prefix is 'The key''s first 15 characters, to recognise it in a list.';
comment on column public.write_keys.key_hash is 'SHA-256 of the key; never readable by clients.';
comment on column public.write_keys.last_used_at is 'When the key last sent events (updated at most once a minute).';
comment on column public.write_keys.revoked_at is 'When the key was revoked; a revoked key is refused.';

create unique index write_keys_key_hash_key on public.write_keys (key_hash);
create index write_keys_user_id_created_at_idx on public.write_keys (user_id, created_at desc);

select private.secure_tenant_table('public.write_keys');
-- Owners list and rename their keys; keys are made and revoked only through the RPCs.
grant select (id, user_id, name, key_prefix, created_at, last_used_at, revoked_at)
  on table public.write_keys to authenticated;
grant insert (name), delete on table public.write_keys to authenticated;
grant update (name, revoked_at) on table public.write_keys to authenticated;

-- A new key is made by the insert itself: clients name it, the trigger draws the key, stores
-- its digest and prefix, and leaves the key for create_write_key to return in a
-- transaction-local setting (read once, then cleared).
create function private.make_write_key()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  new_key text := 'bk_pub_' || encode(extensions.gen_random_bytes(24), 'hex');
begin
  new.key_prefix := left(new_key, 15);
  new.key_hash := sha256(convert_to(new_key, 'UTF8'));
  new.created_at := now();
  new.last_used_at := null;
  new.revoked_at := null;
  perform set_config('beacon.created_write_key', new_key, true);
  return new;
end;
$$;
comment on function private.make_write_key() is
  'Trigger (before insert on write_keys): draws the key, stores its digest and prefix, hands the key to create_write_key.';

-- Revocation is one-way and timed by the server: any write of revoked_at means "revoke now".
create function private.guard_write_key()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.revoked_at := case
    when old.revoked_at is not null then old.revoked_at
    when new.revoked_at is not null then now()
  end;
  return new;
end;
$$;
comment on function private.guard_write_key() is
  'Trigger (before update on write_keys): revoked_at only goes from null to now(), never back.';

create trigger make_write_key
before insert on public.write_keys
for each row execute function private.make_write_key();

create trigger guard_write_key
before update on public.write_keys
for each row execute function private.guard_write_key();

create function public.create_write_key(name text)
returns table (id uuid, key text, key_prefix text)
language plpgsql
set search_path = ''
as $$
declare
  new_id uuid;
  new_prefix text;
  new_key text;
begin
  if name is null or name !~ '\S' or length(name) > 200 then
    raise exception using
      errcode = 'invalid_parameter_value',
      message = 'create_write_key: name must be 1 to 200 characters, not blank (e.g. ''marketing site'')';
  end if;
  insert into public.write_keys as k (name)
  values (create_write_key.name)
  returning k.id, k.key_prefix into new_id, new_prefix;
  new_key := current_setting('beacon.created_write_key');
  perform set_config('beacon.created_write_key', '', true);
  return query select new_id, new_key, new_prefix;
end;
$$;
comment on function public.create_write_key(text) is
  'Creates a publishable write key for the collect function and returns it once; only its digest is kept.';

create function public.revoke_write_key(id uuid)
returns timestamptz
language plpgsql
set search_path = ''
as $$
declare
  revoked timestamptz;
begin
  update public.write_keys as k
  set revoked_at = now()
  where k.id = revoke_write_key.id
  returning k.revoked_at into revoked;
  if revoked is null then
    -- One answer for "not there" and "not yours" (RLS hides other owners' keys).
    raise exception using
      errcode = 'no_data_found',
      message = 'revoke_write_key: no such write key among yours; list them with select on write_keys';
  end if;
  return revoked;
end;
$$;
comment on function public.revoke_write_key(uuid) is
  'Revokes one of your write keys at once (keeps the first revocation time); returns when it was revoked.';

-- The collect function's lookup, by digest, among unrevoked keys.
create function private.write_key_owner(key text)
returns uuid
language plpgsql
set search_path = ''
as $$
declare
  found_key uuid;
  owner uuid;
begin
  if key is null or key !~ '^bk_pub_[0-9a-f]{48}$' then
    return null;
  end if;
  select k.id, k.user_id into found_key, owner
  from public.write_keys as k
  where k.key_hash = sha256(convert_to(key, 'UTF8'))
    and k.revoked_at is null;
  if found_key is not null then
    update public.write_keys as k
    set last_used_at = now()
    where k.id = found_key
      and (k.last_used_at is null or k.last_used_at < now() - interval '1 minute');
  end if;
  return owner;
end;
$$;
comment on function private.write_key_owner(text) is
  'The owner of an unrevoked write key (null for any other text); notes its use at most once a minute.';

revoke all on function
  private.make_write_key(),
  private.guard_write_key(),
  private.write_key_owner(text),
  public.create_write_key(text),
  public.revoke_write_key(uuid)
from public, anon, authenticated, service_role;
grant execute on function public.create_write_key(text), public.revoke_write_key(uuid) to authenticated;
