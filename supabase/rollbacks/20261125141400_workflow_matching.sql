drop trigger workflows_after_delivery_update on public.email_deliveries;
drop trigger workflows_after_event on public.analytics_events;
drop trigger workflows_after_lead_update on public.leads;
drop trigger workflows_after_lead_insert on public.leads;
drop function private.match_email_event_workflows();
drop function private.match_event_workflows();
drop function private.match_updated_lead_workflows();
drop function private.match_inserted_lead_workflows();
drop function private.changed_lead_fields(public.leads, public.leads);
