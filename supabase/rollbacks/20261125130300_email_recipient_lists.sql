drop trigger check_recipient_list on public.email_campaigns;
drop function private.check_recipient_list();
