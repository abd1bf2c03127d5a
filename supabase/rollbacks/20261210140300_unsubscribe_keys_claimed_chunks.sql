-- Back to keeping the keys of deliveries with sent_at or attempts only (as
-- 20261204120500_email_unsubscribe_keys made it).
create or replace function private.keep_email_unsubscribe_keys()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- When the owner's account is being deleted, the campaign goes with it, and so do the keys.
  if not exists (select from auth.users as u where u.id = old.user_id) then
    return old;
  end if;
  insert into private.email_unsubscribe_keys (delivery_id, user_id, email, sender, unsubscribed_at, kept_until)
  select d.id, d.user_id, d.email, coalesce(old.from_name, old.from_email), d.unsubscribed_at, now() + interval '60 days'
  from public.email_deliveries as d
  where d.email_campaign_id = old.id
    and (d.sent_at is not null or d.attempts > 0)
  on conflict (delivery_id) do nothing;
  return old;
end;
$$;
comment on function private.keep_email_unsubscribe_keys() is
  'Trigger (before delete on email_campaigns): keeps the unsubscribe keys of the deliveries that may have been sent, for 60 days.';
