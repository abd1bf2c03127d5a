drop trigger lead_status_history on public.leads;
drop function private.record_lead_status_changes();
drop table public.lead_status_history;
