drop trigger enforce_lifecycle on public.email_campaigns;
drop function private.enforce_email_campaign_lifecycle();
comment on column public.email_campaigns.status is null;
-- The statuses this migration added have no equivalent before it: a paused send reads as
-- sending again, a cancelled one as failed.
update public.email_campaigns
set status = case status when 'paused' then 'sending' else 'failed' end
where status in ('paused', 'cancelled');
alter table public.email_campaigns
  drop constraint email_campaigns_status_check,
  add constraint email_campaigns_status_check
    check (status in ('draft', 'scheduled', 'sending', 'sent', 'failed'));
