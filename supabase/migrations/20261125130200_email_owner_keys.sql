-- (id, user_id) keys on email_campaigns and leads: the targets of the composite foreign keys
-- of email_suppressions and email_deliveries, so that those rows can only point at their
-- owner's campaign and lead.

alter table public.email_campaigns
  add constraint email_campaigns_id_user_id_key unique (id, user_id);

alter table public.leads
  add constraint leads_id_user_id_key unique (id, user_id);
