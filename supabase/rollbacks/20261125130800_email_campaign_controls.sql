drop trigger apply_status on public.email_campaigns;
drop function private.apply_email_campaign_status();
