drop function private.refresh_email_metrics();
drop function private.email_campaign_metrics(uuid);
drop trigger note_metrics_stale_on_insert on public.email_deliveries;
drop trigger note_metrics_stale_on_update on public.email_deliveries;
drop function private.note_email_metrics_stale();
drop table private.email_metrics_stale;
