-- email_campaigns gains its sender: the From address and name and a Reply-To. Each is
-- optional; the dispatcher falls back to the platform's BEACON_EMAIL_FROM. The owner sets
-- them like the subject. A display name may not carry a line break (header injection).

alter table public.email_campaigns
  add column from_email text,
  add column from_name text,
  add column reply_to text,
  add constraint email_campaigns_from_email_check
    check (from_email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$' and length(from_email) <= 320),
  add constraint email_campaigns_from_name_check
    check (btrim(from_name) <> '' and length(from_name) <= 200 and from_name !~ '[[:cntrl:]]'),
  add constraint email_campaigns_reply_to_check
    check (reply_to ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$' and length(reply_to) <= 320);

comment on column public.email_campaigns.from_email is 'Sender address; null: the platform default (BEACON_EMAIL_FROM).';
comment on column public.email_campaigns.from_name is 'Sender display name shown next to from_email; null: none.';
comment on column public.email_campaigns.reply_to is 'Where replies go; null: to the sender.';

grant insert (from_email, from_name, reply_to), update (from_email, from_name, reply_to)
  on table public.email_campaigns to authenticated;
