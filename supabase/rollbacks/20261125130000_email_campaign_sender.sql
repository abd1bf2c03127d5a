alter table public.email_campaigns
  drop column from_email,
  drop column from_name,
  drop column reply_to;
