drop function public.import_leads(jsonb, text);
