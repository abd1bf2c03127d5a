drop trigger check_sender on public.email_campaigns;
drop function private.check_email_campaign_sender();
drop function private.sender_problem(uuid, text, text);
