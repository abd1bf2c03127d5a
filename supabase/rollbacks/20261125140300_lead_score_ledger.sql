drop table public.lead_score_ledger;
