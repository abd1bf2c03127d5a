drop trigger workflows_after_delivery_update on public.email_deliveries;
create trigger workflows_after_delivery_update
after update on public.email_deliveries
referencing old table as old_deliveries new table as new_deliveries
for each statement execute function private.match_email_event_workflows();

drop table private.email_unsubscribe_effects;
