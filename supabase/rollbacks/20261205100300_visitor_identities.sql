drop trigger workflows_after_event_attribution on public.analytics_events;
drop trigger score_engagement_on_attribution on public.analytics_events;
drop table private.visitor_identities;
