drop function public.revoke_write_key(uuid);
drop function public.create_write_key(text);
drop table public.write_keys;
drop function private.write_key_owner(text);
drop function private.guard_write_key();
drop function private.make_write_key();
