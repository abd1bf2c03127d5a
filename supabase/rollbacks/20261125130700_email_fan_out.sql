drop function private.fan_out_email_campaign(uuid);
drop function private.resolve_email_recipients(uuid, jsonb);
