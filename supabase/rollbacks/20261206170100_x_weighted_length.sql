drop function private.x_weighted_length(text);
drop function private.x_emoji_pattern();
drop function private.x_url_pattern();
