alter table public.email_campaigns
  drop constraint email_campaigns_id_user_id_key;
alter table public.leads
  drop constraint leads_id_user_id_key;
