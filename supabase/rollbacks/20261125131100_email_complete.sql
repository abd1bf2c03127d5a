drop function private.complete_email_batch(text, jsonb);
drop function private.email_backoff(integer);
