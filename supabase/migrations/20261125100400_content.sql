-- content: blog posts, social posts, emails and ad copy, drafted, scheduled or published.

create table public.content (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  title text not null,
  content_type text not null,
  content text not null,
  metadata jsonb not null default '{}',
  status text not null default 'draft',
  scheduled_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint content_title_check check (title ~ '\S' and length(title) <= 300),
  constraint content_content_type_check check (content_type in ('blog_post', 'social_post', 'email', 'ad_copy')),
  constraint content_content_check check (length(content) <= 1000000),
  constraint content_metadata_check check (jsonb_typeof(metadata) = 'object'),
  constraint content_status_check check (status in ('draft', 'published', 'scheduled', 'archived')),
  constraint content_scheduled_needs_time_check check (status <> 'scheduled' or scheduled_at is not null),
  constraint content_id_user_id_key unique (id, user_id)
);
comment on table public.content is 'Content pieces (blog, social, email, ad copy); scheduled ones carry scheduled_at.';

create index idx_content_user_id on public.content (user_id);
create index idx_content_type on public.content (content_type);
create index idx_content_status on public.content (status);
create index content_user_id_created_at_idx on public.content (user_id, created_at desc);

create trigger set_updated_at
before update on public.content
for each row execute function private.set_updated_at();

select private.secure_tenant_table('public.content');
grant select, insert, update, delete on table public.content to authenticated;
