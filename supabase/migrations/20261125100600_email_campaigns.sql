-- email_campaigns: one email send (subject, body, recipients) within a campaign.
-- metrics belongs to the system; campaign and template must be the owner's own rows.

create table public.email_campaigns (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  campaign_id uuid,
  subject text not null,
  content text not null,
  template_id uuid,
  recipient_list jsonb not null,
  send_at timestamptz,
  status text not null default 'draft',
  metrics jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- Keyed on (id, user_id) so a row can only point at its owner's campaign and template;
  -- deleting either keeps the email campaign and forgets the link.
  constraint email_campaigns_campaign_fkey foreign key (campaign_id, user_id)
    references public.campaigns (id, user_id) on delete set null (campaign_id),
  constraint email_campaigns_template_fkey foreign key (template_id, user_id)
    references public.content (id, user_id) on delete set null (template_id),
  constraint email_campaigns_subject_check check (subject ~ '\S' and length(subject) <= 998),
  constraint email_campaigns_content_check check (length(content) <= 1000000),
  constraint email_campaigns_recipient_list_check check (jsonb_typeof(recipient_list) = 'array'),
  constraint email_campaigns_status_check check (status in ('draft', 'scheduled', 'sending', 'sent', 'failed')),
  constraint email_campaigns_scheduled_needs_send_at_check check (status <> 'scheduled' or send_at is not null),
  constraint email_campaigns_metrics_check check (jsonb_typeof(metrics) = 'object')
);
comment on table public.email_campaigns is
  'Email sends within a campaign: content, recipients and schedule by the owner, metrics by the system.';

create index email_campaigns_campaign_id_user_id_idx on public.email_campaigns (campaign_id, user_id);
create index email_campaigns_template_id_user_id_idx on public.email_campaigns (template_id, user_id);
create index email_campaigns_user_id_created_at_idx on public.email_campaigns (user_id, created_at desc);

create trigger set_updated_at
before update on public.email_campaigns
for each row execute function private.set_updated_at();

select private.secure_tenant_table('public.email_campaigns');
grant select, delete on table public.email_campaigns to authenticated;
grant insert (id, user_id, campaign_id, subject, content, template_id, recipient_list, send_at, status)
  on table public.email_campaigns to authenticated;
grant update (campaign_id, subject, content, template_id, recipient_list, send_at, status)
  on table public.email_campaigns to authenticated;
