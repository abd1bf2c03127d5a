drop function public.report_sources(timestamptz, timestamptz);
drop function public.report_funnel(timestamptz, timestamptz);
drop function public.report_campaign(uuid);
drop function public.report_campaigns(timestamptz, timestamptz);
