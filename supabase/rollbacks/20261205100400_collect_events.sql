drop function private.collect_events(text, jsonb, inet, text, boolean);
