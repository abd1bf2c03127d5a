drop function private.find_delivery_by_provider_id(text);
drop function private.record_email_event(text, uuid, timestamptz, boolean, jsonb);
