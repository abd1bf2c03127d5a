-- private.email_queue: the deliveries still to be sent, one row each; a row goes away when
-- its delivery reaches a final state. Fan-out groups a campaign's deliveries into chunks of
-- at most 100 (one provider batch call each). A worker claims whole chunks with
-- `for update skip locked` and holds them under a lease (lease_until, leased_by); a lease
-- that runs out without a result makes the rows claimable again, by anyone.
--
-- The rows claimed together are the rows of one chunk that became ready at the same instant
-- (coalesce(lease_until, run_after)): fanned out together, claimed together, or retried
-- together. So a chunk re-claimed after a crash or retried after an error has the same
-- members as the attempt before, and with them the same chunk key, which the provider uses
-- to drop a repeat (see private.claim_email_batch).

create table private.email_queue (
  delivery_id uuid primary key references public.email_deliveries (id) on delete cascade,
  email_campaign_id uuid not null,
  user_id uuid not null,
  chunk integer not null,
  run_after timestamptz not null default now(),
  attempts integer not null default 0,
  lease_until timestamptz,
  leased_by text,
  paused boolean not null default false,
  constraint email_queue_chunk_check check (chunk >= 0),
  constraint email_queue_attempts_check check (attempts >= 0),
  constraint email_queue_lease_check check ((lease_until is null) = (leased_by is null)),
  constraint email_queue_leased_by_check check (length(leased_by) between 1 and 200)
);
comment on table private.email_queue is
  'Deliveries waiting to be sent, in chunks of at most 100 per campaign; claimed under a lease, retried with backoff.';
comment on column private.email_queue.chunk is 'The delivery''s chunk within its campaign: the unit of claim and of one provider batch.';
comment on column private.email_queue.run_after is 'Not claimed before this time (retry backoff).';
comment on column private.email_queue.attempts is 'Claims so far; the fifth failed attempt dead-letters the delivery.';
comment on column private.email_queue.lease_until is 'Set while a worker holds the row; once past, the row can be claimed again.';
comment on column private.email_queue.paused is 'The campaign is paused: the row waits.';

-- The claim: ready rows by the time they became ready, then by chunk (see claim_email_batch).
create index email_queue_ready_idx
  on private.email_queue ((coalesce(lease_until, run_after)), email_campaign_id, chunk)
  where not paused;
-- A campaign's rows: pause, resume, cancel, "anything left?" and a chunk's members.
create index email_queue_email_campaign_id_chunk_idx on private.email_queue (email_campaign_id, chunk);

revoke all on table private.email_queue from public, anon, authenticated, service_role;
