-- campaigns: a marketing campaign owned by one user; the parent of email campaigns.

create table public.campaigns (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  name text not null,
  type text not null,
  status text not null default 'draft',
  description text,
  config jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint campaigns_name_check check (name ~ '\S' and length(name) <= 200),
  constraint campaigns_type_check check (type in ('email', 'social', 'content', 'mixed')),
  constraint campaigns_status_check check (status in ('draft', 'active', 'paused', 'completed')),
  constraint campaigns_description_check check (length(description) <= 5000),
  constraint campaigns_config_check check (jsonb_typeof(config) = 'object'),
  -- Target of child tables' (campaign_id, user_id) keys, so no row can point at another
  -- tenant's campaign.
  constraint campaigns_id_user_id_key unique (id, user_id)
);
comment on table public.campaigns is 'Marketing campaigns, one owner each; email campaigns hang off them.';

create index idx_campaigns_user_id on public.campaigns (user_id);
create index idx_campaigns_status on public.campaigns (status);
create index campaigns_user_id_created_at_idx on public.campaigns (user_id, created_at desc);

create trigger set_updated_at
before update on public.campaigns
for each row execute function private.set_updated_at();

select private.secure_tenant_table('public.campaigns');
grant select, insert, update, delete on table public.campaigns to authenticated;
