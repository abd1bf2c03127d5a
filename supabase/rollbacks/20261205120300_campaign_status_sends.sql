drop trigger hold_for_campaign on public.email_campaigns;
drop function private.hold_email_campaign_for_campaign();
drop trigger apply_status on public.campaigns;
drop function private.apply_campaign_status();
