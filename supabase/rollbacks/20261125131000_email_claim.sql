drop function private.claim_email_batch(text, integer, interval);
drop function private.email_max_attempts();
