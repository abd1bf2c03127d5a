-- email_deliveries: one row per recipient of an email campaign, made when the campaign
-- starts sending and kept for good: who it went to (with the merge data it was rendered
-- with), where it stands, how many attempts it took and the last error, the provider's
-- message id, and when each fact happened (sent, delivered, opened, clicked, bounced,
-- complained, unsubscribed). Opens and clicks are stamped twice: *_at for any, human_*_at
-- only when not made by a machine (mail privacy proxies, link scanners).
--
-- The owner reads them; only the system writes them (fan-out, the queue functions and
-- private.record_email_event). idempotency_key is set once at fan-out and never changes:
-- the dispatcher hands it, through the chunk's key, to the provider.

create table public.email_deliveries (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  email_campaign_id uuid not null,
  lead_id uuid,
  email text not null,
  first_name text,
  last_name text,
  merge_data jsonb not null default '{}',
  status text not null default 'queued',
  attempts integer not null default 0,
  last_error text,
  provider_message_id text,
  idempotency_key text not null,
  sent_at timestamptz,
  delivered_at timestamptz,
  opened_at timestamptz,
  human_opened_at timestamptz,
  clicked_at timestamptz,
  human_clicked_at timestamptz,
  bounced_at timestamptz,
  complained_at timestamptz,
  unsubscribed_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint email_deliveries_email_campaign_fkey foreign key (email_campaign_id)
    references public.email_campaigns (id) on delete cascade,
  -- Deleting the lead keeps the delivery (it happened) and forgets the link.
  -- Both keys are plain keys on the parent's id, not (id, user_id) like the keys of rows that
  -- clients write: only the fan-out writes these rows, from the owner's own campaign and
  -- leads, and a composite key's check can be planned on the parent's user_id index when
  -- statistics are stale (right after a bulk import), scanning every lead of the owner for
  -- each of 100,000 deliveries. On the primary key it is one probe whatever the statistics.
  constraint email_deliveries_lead_fkey foreign key (lead_id)
    references public.leads (id) on delete set null,
  constraint email_deliveries_idempotency_key_key unique (idempotency_key),
  constraint email_deliveries_email_check check (email like '%_@_%' and length(email) <= 320),
  constraint email_deliveries_merge_data_check check (jsonb_typeof(merge_data) = 'object'),
  constraint email_deliveries_status_check check (status in (
    'queued', 'sent', 'delivered', 'delayed', 'bounced', 'complained', 'failed', 'cancelled', 'suppressed'
  )),
  constraint email_deliveries_attempts_check check (attempts >= 0),
  constraint email_deliveries_last_error_check check (length(last_error) <= 2000),
  constraint email_deliveries_provider_message_id_check check (length(provider_message_id) <= 200),
  constraint email_deliveries_idempotency_key_check check (length(idempotency_key) between 1 and 200)
);
comment on table public.email_deliveries is
  'One row per recipient of an email campaign: its state, attempts, last error and what happened to the message. Written by the system; the owner reads.';
comment on column public.email_deliveries.status is
  'queued, sent, delayed, delivered, bounced, complained (provider facts, the strongest wins), failed, cancelled or suppressed (never sent).';
comment on column public.email_deliveries.merge_data is 'Merge fields for the template: the recipient entry''s data, then the lead''s company and custom_fields.';
comment on column public.email_deliveries.idempotency_key is 'Stable per delivery, set at fan-out; the chunk key sent to the provider is derived from it.';
comment on column public.email_deliveries.human_opened_at is 'First open not attributed to a machine (privacy proxy, prefetch, scanner).';
comment on column public.email_deliveries.human_clicked_at is 'First click not attributed to a machine (link scanner).';

-- One delivery per address per campaign. user_id follows from the campaign, so it takes
-- nothing from the uniqueness; it is there so the index also covers the campaign foreign
-- key. The campaign's index for its recipient list and its metrics.
create unique index email_deliveries_email_campaign_id_email_key
  on public.email_deliveries (email_campaign_id, user_id, lower(email));
create unique index email_deliveries_provider_message_id_key
  on public.email_deliveries (provider_message_id)
  where provider_message_id is not null;
create index email_deliveries_user_id_created_at_idx on public.email_deliveries (user_id, created_at desc);
create index email_deliveries_lead_id_idx
  on public.email_deliveries (lead_id)
  where lead_id is not null;

create trigger set_updated_at
before update on public.email_deliveries
for each row execute function private.set_updated_at();

select private.secure_tenant_table('public.email_deliveries');
grant select on table public.email_deliveries to authenticated;
