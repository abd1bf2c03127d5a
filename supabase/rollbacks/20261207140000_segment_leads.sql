drop function public.segment_leads(uuid);
