-- email_campaigns.metrics: exact counts over the campaign's deliveries, unique per
-- recipient (a delivery counts once however many times it was opened or clicked):
--   recipients    deliveries (every resolved recipient, suppressed ones included)
--   sent, delivered, opened, clicked, bounced, complained, unsubscribed
--                 deliveries with that fact's timestamp set
--   human_opened, human_clicked   the same, not counting machines' opens and clicks
--   failed, suppressed            deliveries in that status
--
-- Counting 100,000 deliveries on every webhook would be slow and would serialise events on
-- the campaign row, so a statement that changes deliveries only notes the campaign in
-- private.email_metrics_stale (one row per statement, no lock shared with anyone) and the
-- tick recounts the noted campaigns. A note is deleted by the same statement that recounts,
-- with the same snapshot, so a change that commits meanwhile keeps its own note for the
-- next tick: metrics are never left stale.

create table private.email_metrics_stale (
  id bigint generated always as identity primary key,
  email_campaign_id uuid not null references public.email_campaigns (id) on delete cascade,
  noted_at timestamptz not null default now()
);
comment on table private.email_metrics_stale is
  'Email campaigns whose deliveries changed since their metrics were last counted; emptied by the tick.';
create index email_metrics_stale_email_campaign_id_idx on private.email_metrics_stale (email_campaign_id);
revoke all on table private.email_metrics_stale from public, anon, authenticated, service_role;

-- Security definer: a service_role client writing deliveries has no access to private.
create function private.note_email_metrics_stale()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into private.email_metrics_stale (email_campaign_id)
  select distinct c.email_campaign_id
  from changed as c;
  return null;
end;
$$;
comment on function private.note_email_metrics_stale() is
  'Trigger (per statement): notes the campaigns whose deliveries the statement inserted or updated.';
revoke all on function private.note_email_metrics_stale() from public, anon, authenticated, service_role;

create trigger note_metrics_stale_on_insert
after insert on public.email_deliveries
referencing new table as changed
for each statement execute function private.note_email_metrics_stale();

create trigger note_metrics_stale_on_update
after update on public.email_deliveries
referencing new table as changed
for each statement execute function private.note_email_metrics_stale();

create function private.email_campaign_metrics(email_campaign_id uuid)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'recipients', count(*),
    'sent', count(d.sent_at),
    'delivered', count(d.delivered_at),
    'opened', count(d.opened_at),
    'clicked', count(d.clicked_at),
    'bounced', count(d.bounced_at),
    'complained', count(d.complained_at),
    'unsubscribed', count(d.unsubscribed_at),
    'failed', count(*) filter (where d.status = 'failed'),
    'suppressed', count(*) filter (where d.status = 'suppressed'),
    'human_opened', count(d.human_opened_at),
    'human_clicked', count(d.human_clicked_at)
  )
  from public.email_deliveries as d
  where d.email_campaign_id = email_campaign_metrics.email_campaign_id
$$;
comment on function private.email_campaign_metrics(uuid) is 'The exact metrics of one email campaign, counted now.';
revoke all on function private.email_campaign_metrics(uuid) from public, anon, authenticated, service_role;

create function private.refresh_email_metrics()
returns integer
language sql
set search_path = ''
as $$
  -- Only campaigns that have started have deliveries to count.
  with noted as (
    delete from private.email_metrics_stale as n
    using public.email_campaigns as c
    where c.id = n.email_campaign_id
      and c.status not in ('draft', 'scheduled')
    returning n.email_campaign_id
  ),
  refreshed as (
    update public.email_campaigns as c
    set metrics = private.email_campaign_metrics(c.id)
    where c.id in (select n.email_campaign_id from noted as n)
    returning 1
  )
  select count(*)::integer from refreshed
$$;
comment on function private.refresh_email_metrics() is
  'Recounts the metrics of the campaigns noted in private.email_metrics_stale and clears the notes; returns how many campaigns.';
revoke all on function private.refresh_email_metrics() from public, anon, authenticated, service_role;
