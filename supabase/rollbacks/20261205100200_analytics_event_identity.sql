drop index public.analytics_events_user_id_anonymous_id_idx;
drop index public.analytics_events_user_id_message_id_key;
alter table public.analytics_events
  drop column message_id,
  drop column anonymous_id;
