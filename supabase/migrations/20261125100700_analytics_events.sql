-- analytics_events: an append-only log of what happened (opens, clicks, page views...).
-- Events are facts: the owner may add and delete them, never rewrite one.

create table public.analytics_events (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  event_type text not null,
  event_name text not null,
  properties jsonb not null default '{}',
  "timestamp" timestamptz not null default now(),
  session_id text,
  user_agent text,
  ip_address inet,
  constraint analytics_events_event_type_check check (event_type ~ '\S' and length(event_type) <= 100),
  constraint analytics_events_event_name_check check (event_name ~ '\S' and length(event_name) <= 200),
  constraint analytics_events_properties_check check (jsonb_typeof(properties) = 'object'),
  constraint analytics_events_session_id_check check (length(session_id) <= 200),
  constraint analytics_events_user_agent_check check (length(user_agent) <= 1000)
);
comment on table public.analytics_events is 'Append-only analytics events per user (email opens, clicks, site events).';

create index idx_analytics_user_id on public.analytics_events (user_id);
create index idx_analytics_timestamp on public.analytics_events ("timestamp" desc);
create index idx_analytics_event_type on public.analytics_events (event_type);
create index analytics_events_user_id_timestamp_idx on public.analytics_events (user_id, "timestamp" desc);

select private.secure_tenant_table('public.analytics_events');
grant select, insert, delete on table public.analytics_events to authenticated;
