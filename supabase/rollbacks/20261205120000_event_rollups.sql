select cron.unschedule(jobid) from cron.job where jobname = 'beacon-event-rollups';
drop function private.refresh_event_rollups();
drop trigger mark_rollup_days_on_delete on public.analytics_events;
drop trigger mark_rollup_days_on_update on public.analytics_events;
drop trigger mark_rollup_days_on_insert on public.analytics_events;
drop function private.mark_event_days_dirty();
drop table private.event_rollup_dirty;
drop table private.event_rollups_daily;
