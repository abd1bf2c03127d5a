drop function private.secure_tenant_table(regclass);
drop function private.set_updated_at();
drop schema private;
