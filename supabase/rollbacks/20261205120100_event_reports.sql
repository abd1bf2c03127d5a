drop function public.report_top_pages(timestamptz, timestamptz, integer);
drop function public.report_top_events(timestamptz, timestamptz, integer);
drop function public.report_events(timestamptz, timestamptz, text, jsonb);
drop function reporting.check_limit(text, integer);
drop function reporting.check_range(text, timestamptz, timestamptz);
drop function reporting.event_days(date, date);
drop schema reporting;
