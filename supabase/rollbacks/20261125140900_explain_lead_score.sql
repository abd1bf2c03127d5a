drop function public.explain_lead_score(uuid);
