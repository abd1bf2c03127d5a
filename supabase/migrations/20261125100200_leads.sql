-- leads: the people a user markets to. One lead per email address per user, compared
-- case-insensitively. The score column is owned by the scoring migration's trigger.

create table public.leads (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  email text not null,
  first_name text,
  last_name text,
  company text,
  phone text,
  score integer not null default 0,
  status text not null default 'new',
  source text,
  tags text[] not null default '{}',
  custom_fields jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint leads_email_check check (email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$' and length(email) <= 320),
  constraint leads_first_name_check check (first_name ~ '\S' and length(first_name) <= 200),
  constraint leads_last_name_check check (last_name ~ '\S' and length(last_name) <= 200),
  constraint leads_company_check check (company ~ '\S' and length(company) <= 200),
  constraint leads_phone_check check (phone ~ '^\+?[0-9 ().-]{3,32}$'),
  constraint leads_score_check check (score between -100000 and 100000),
  constraint leads_status_check check (status in ('new', 'qualified', 'contacted', 'converted', 'lost')),
  constraint leads_source_check check (length(source) <= 200),
  constraint leads_tags_check check (array_position(tags, null) is null and cardinality(tags) <= 100),
  constraint leads_custom_fields_check check (jsonb_typeof(custom_fields) = 'object')
);
comment on table public.leads is 'Leads (contacts) per user; unique by lower(email) per user; score is system-maintained.';

create unique index leads_user_id_email_key on public.leads (user_id, lower(email));
create index idx_leads_user_id on public.leads (user_id);
create index idx_leads_score on public.leads (score desc);
create index idx_leads_status on public.leads (status);
create index leads_user_id_created_at_idx on public.leads (user_id, created_at desc);

create trigger set_updated_at
before update on public.leads
for each row execute function private.set_updated_at();

select private.secure_tenant_table('public.leads');
grant select, delete on table public.leads to authenticated;
grant insert (id, user_id, email, first_name, last_name, company, phone, status, source, tags, custom_fields)
  on table public.leads to authenticated;
grant update (email, first_name, last_name, company, phone, status, source, tags, custom_fields)
  on table public.leads to authenticated;
