-- email_campaigns.error_message: why the system failed a campaign, in words its owner can act
-- on (e.g. a recipient list the fan-out could not read). Written only by the system (the
-- email tick); the owner reads it with the rest of the row.

alter table public.email_campaigns
  add column error_message text,
  add constraint email_campaigns_error_message_check check (length(error_message) <= 2000);

comment on column public.email_campaigns.error_message is
  'Why the system could not send or finish this campaign (status failed); null otherwise. Written by the system.';
