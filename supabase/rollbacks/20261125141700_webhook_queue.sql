drop function private.complete_webhooks(text, jsonb);
drop function private.claim_webhooks(text, integer, interval);
drop function private.webhook_max_attempts();
drop table private.webhook_queue;
