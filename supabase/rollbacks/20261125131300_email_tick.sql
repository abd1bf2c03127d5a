drop function private.email_tick();
drop index public.email_campaigns_status_send_at_idx;
