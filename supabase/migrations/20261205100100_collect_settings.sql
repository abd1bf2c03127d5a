-- collect_settings: one row per owner with the knobs of event collection (the collect
-- function). An owner without a row gets the defaults.
--
--   create_leads           an identify with an unknown email creates the lead (source
--                          'website'); off: the identify is recorded, no lead is made (true)
--   truncate_ip            store visitors' addresses truncated: IPv4 to /24, IPv6 to /48 (false)
--   honor_privacy_signals  drop events sent with Do-Not-Track or Global Privacy Control
--                          (DNT: 1, Sec-GPC: 1, or the snippet's "privacy_signal"); the snippet
--                          learns it from collect's answers and stops sending (false)

create table public.collect_settings (
  user_id uuid primary key default auth.uid() references auth.users (id) on delete cascade,
  create_leads boolean not null default true,
  truncate_ip boolean not null default false,
  honor_privacy_signals boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.collect_settings is
  'Per-owner settings of event collection: lead creation on identify, IP truncation, Do-Not-Track/GPC. No row: the defaults.';
comment on column public.collect_settings.create_leads is
  'An identify naming an unknown email creates the lead (source website).';
comment on column public.collect_settings.truncate_ip is
  'Store visitors'' IP addresses truncated (IPv4 /24, IPv6 /48).';
comment on column public.collect_settings.honor_privacy_signals is
  'Drop events from browsers that send Do-Not-Track or Global Privacy Control.';

create trigger set_updated_at
before update on public.collect_settings
for each row execute function private.set_updated_at();

select private.secure_tenant_table('public.collect_settings');
grant select, delete on table public.collect_settings to authenticated;
grant insert (user_id, create_leads, truncate_ip, honor_privacy_signals)
  on table public.collect_settings to authenticated;
grant update (create_leads, truncate_ip, honor_privacy_signals)
  on table public.collect_settings to authenticated;
