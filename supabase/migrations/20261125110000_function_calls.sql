-- How pg_cron reaches edge functions. On hosted Supabase a cron job POSTs to the function
-- with pg_net, using the functions' base URL and a service key kept in Vault:
--
--   select vault.create_secret('https://<ref>.supabase.co/functions/v1', 'beacon_functions_url');
--   select vault.create_secret('<service role key or sb_secret_...>', 'beacon_service_key');
--
-- Where pg_net is absent (the local stack) the call is skipped and the local stack's loop
-- (scripts/start) makes the same HTTP calls on the same schedule. Both pg_net and Vault are
-- reached through dynamic SQL so this migration applies with or without them.

-- The schedules of later migrations need pg_cron. Hosted Supabase lets postgres enable it; the
-- local stack has it already. Its rollback leaves it: the platform owns extensions.
create extension if not exists pg_cron with schema pg_catalog;

create function private.call_function(path text, body jsonb default '{}')
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  base_url text;
  service_key text;
  request_id bigint;
begin
  if to_regnamespace('net') is null then
    return null;
  end if;
  if to_regnamespace('vault') is not null then
    -- format() keeps the SQL out of plpgsql_check's static analysis, which would otherwise
    -- fail where Vault is absent.
    execute format('select decrypted_secret from %I.decrypted_secrets where name = $1', 'vault')
      into base_url using 'beacon_functions_url';
    execute format('select decrypted_secret from %I.decrypted_secrets where name = $1', 'vault')
      into service_key using 'beacon_service_key';
  end if;
  if base_url is null or service_key is null then
    raise warning 'beacon: % was not called: store beacon_functions_url and beacon_service_key in Vault', path;
    return null;
  end if;
  -- 30 s: a dispatch run works for up to 25 s before it answers.
  execute format('select %I.http_post(url := $1, body := $2, headers := $3, timeout_milliseconds := 30000)', 'net')
    into request_id
    using rtrim(base_url, '/') || path,
          body,
          jsonb_build_object('Authorization', 'Bearer ' || service_key, 'Content-Type', 'application/json');
  return request_id;
end;
$$;
comment on function private.call_function(text, jsonb) is
  'POSTs to an edge function path (e.g. /dispatch) via pg_net with the service key from Vault; null where pg_net is absent.';
revoke all on function private.call_function(text, jsonb) from public, anon, authenticated, service_role;
