-- Who sent an analytics event and which send it was: anonymous_id is the visitor's id as the
-- website's snippet or an app keeps it; message_id, the sender's id of the event, makes a
-- resend idempotent (unique per owner; the collect function inserts with on conflict do
-- nothing).

alter table public.analytics_events
  add column anonymous_id text,
  add column message_id text,
  add constraint analytics_events_anonymous_id_check check (anonymous_id ~ '\S' and length(anonymous_id) <= 200),
  add constraint analytics_events_message_id_check check (message_id ~ '\S' and length(message_id) <= 200);
comment on column public.analytics_events.anonymous_id is
  'The visitor''s anonymous id (the snippet''s, or an app''s), linked to a lead once they identify.';
comment on column public.analytics_events.message_id is
  'The sender''s id of the event; a second event with the same id from the same owner is ignored.';

create unique index analytics_events_user_id_message_id_key
on public.analytics_events (user_id, message_id)
where message_id is not null;
create index analytics_events_user_id_anonymous_id_idx
on public.analytics_events (user_id, anonymous_id)
where anonymous_id is not null;
