drop function private.complete_email_batch(text, jsonb);
drop function private.queue_result_problem(jsonb, integer, text, text);
drop function private.retry_backoff(integer);
