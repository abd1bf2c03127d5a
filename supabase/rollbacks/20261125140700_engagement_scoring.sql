drop trigger score_engagement on public.analytics_events;
drop function private.award_engagement();
drop function private.event_lead_id(uuid, jsonb);
drop table private.lead_engagement;
