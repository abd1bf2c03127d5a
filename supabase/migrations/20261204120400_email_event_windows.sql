-- Opens and clicks do not amplify: a delivery's opens (and, apart, its clicks) write one
-- analytics_events row per hour-long window, so a reader who reloads a message 50 times, or
-- a bot that replays a link, earns at most one score award and starts each event workflow
-- at most once an hour. Repeats inside the window only raise the logged row's
-- properties.count (and this table's count). Machines' and people's events have windows of
-- their own, so a privacy proxy's open never hides the person's open that follows it.

create table private.email_event_windows (
  delivery_id uuid not null references public.email_deliveries (id) on delete cascade,
  event_name text not null,
  machine boolean not null,
  started_at timestamptz not null,
  -- The analytics_events row logged when the window started (the owner may delete it).
  analytics_event_id uuid not null,
  count integer not null default 1,
  primary key (delivery_id, event_name, machine),
  constraint email_event_windows_event_name_check check (event_name in ('email_opened', 'email_clicked')),
  constraint email_event_windows_count_check check (count >= 1)
);
comment on table private.email_event_windows is
  'The current hour-long window of each delivery''s opens and clicks (machines apart): when it started, its analytics row and how many events it holds.';

revoke all on table private.email_event_windows from public, anon, authenticated, service_role;
