-- private.processed_webhooks: the svix-id of every Resend webhook delivery already handled,
-- so that a retried or replayed delivery is processed once (the webhooks function inserts
-- the id with `on conflict do nothing` in the transaction that records the event). Svix
-- retries for about a day; ids are kept a week, then swept by pg_cron.

create table private.processed_webhooks (
  id text primary key,
  received_at timestamptz not null default now(),
  constraint processed_webhooks_id_check check (length(id) between 1 and 200)
);
comment on table private.processed_webhooks is
  'svix-ids of Resend webhook deliveries already processed (each is processed once); kept 7 days.';

create index processed_webhooks_received_at_idx on private.processed_webhooks (received_at);

revoke all on table private.processed_webhooks from public, anon, authenticated, service_role;

create function private.purge_processed_webhooks()
returns integer
language sql
set search_path = ''
as $$
  with purged as (
    delete from private.processed_webhooks
    where received_at < now() - interval '7 days'
    returning 1
  )
  select count(*)::integer from purged
$$;
comment on function private.purge_processed_webhooks() is
  'Cron job body: forgets webhook ids older than a week; returns how many.';
revoke all on function private.purge_processed_webhooks() from public, anon, authenticated, service_role;

-- A stable job name: re-running the migration updates the job instead of adding another.
select cron.schedule('beacon-purge-processed-webhooks', '17 3 * * *', 'select private.purge_processed_webhooks()');
