drop trigger set_lead_score on public.leads;
drop function private.set_lead_score();
drop function public.calculate_lead_score(uuid);
drop function public.lead_profile_score(public.leads);
