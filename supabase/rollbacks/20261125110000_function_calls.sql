drop function private.call_function(text, jsonb);
