-- email_suppressions: the addresses a user's email campaigns never reach, one row per
-- address (compared case-insensitively). The system adds them when a recipient
-- unsubscribes, a message hard-bounces or the recipient complains; the owner sees them all
-- and may add or remove only 'manual' ones (a person's own unsubscribe is not the sender's
-- to undo). Fan-out records a suppressed recipient as a 'suppressed' delivery and the
-- claim re-checks this table just before sending.

create table public.email_suppressions (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  email text not null,
  reason text not null default 'manual',
  email_campaign_id uuid,
  created_at timestamptz not null default now(),
  -- The campaign that caused it; deleting the campaign keeps the suppression.
  constraint email_suppressions_email_campaign_fkey foreign key (email_campaign_id, user_id)
    references public.email_campaigns (id, user_id) on delete set null (email_campaign_id),
  constraint email_suppressions_email_check
    check (email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$' and length(email) <= 320),
  constraint email_suppressions_reason_check
    check (reason in ('unsubscribed', 'hard_bounce', 'complaint', 'manual'))
);
comment on table public.email_suppressions is
  'Addresses no email campaign of the owner sends to: unsubscribed, hard-bounced, complained, or suppressed by hand.';
comment on column public.email_suppressions.reason is
  'unsubscribed, hard_bounce, complaint (added by the system) or manual (added by the owner).';
comment on column public.email_suppressions.email_campaign_id is 'The email campaign whose message led to it, if any.';

create unique index email_suppressions_user_id_email_key on public.email_suppressions (user_id, lower(email));
create index email_suppressions_user_id_created_at_idx on public.email_suppressions (user_id, created_at desc);
create index email_suppressions_email_campaign_id_user_id_idx
  on public.email_suppressions (email_campaign_id, user_id)
  where email_campaign_id is not null;

select private.secure_tenant_table('public.email_suppressions');
-- Owners add and remove manual suppressions only.
alter policy "owner can insert" on public.email_suppressions
  with check (user_id = (select auth.uid()) and reason = 'manual');
alter policy "owner can delete" on public.email_suppressions
  using (user_id = (select auth.uid()) and reason = 'manual');
grant select, delete on table public.email_suppressions to authenticated;
grant insert (id, user_id, email, reason, email_campaign_id) on table public.email_suppressions to authenticated;
