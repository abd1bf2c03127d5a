-- Unsubscribe links outlive the campaign: deleting an email campaign deletes its deliveries,
-- but the links in mail it sent must keep working for at least 60 days whatever the sender
-- does. Before a campaign is deleted, each delivery that may have reached someone (sent, or
-- claimed by a worker at least once) leaves its unsubscribe key here: the address, the
-- owner and the sender's name for the page, kept 60 days from the deletion. The track
-- function's unsubscribe page and private.record_email_event('unsubscribed') fall back to
-- it, and the unsubscribe still puts the address on the owner's suppression list.
-- Deleting the owner's account removes them (there is no one left to send).

create table private.email_unsubscribe_keys (
  delivery_id uuid primary key,
  user_id uuid not null references auth.users (id) on delete cascade,
  email text not null,
  sender text,
  unsubscribed_at timestamptz,
  kept_until timestamptz not null
);
comment on table private.email_unsubscribe_keys is
  'Unsubscribe keys of deliveries whose campaign was deleted: the links in sent mail keep working until kept_until (60 days).';

create index email_unsubscribe_keys_user_id_idx on private.email_unsubscribe_keys (user_id);
create index email_unsubscribe_keys_kept_until_idx on private.email_unsubscribe_keys (kept_until);

revoke all on table private.email_unsubscribe_keys from public, anon, authenticated, service_role;

-- Security definer: the owner deletes campaigns from the app and has no access to private.
create function private.keep_email_unsubscribe_keys()
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
revoke all on function private.keep_email_unsubscribe_keys() from public, anon, authenticated, service_role;

create trigger keep_unsubscribe_keys
before delete on public.email_campaigns
for each row execute function private.keep_email_unsubscribe_keys();

create function private.purge_email_unsubscribe_keys()
returns integer
language sql
set search_path = ''
as $$
  with purged as (
    delete from private.email_unsubscribe_keys
    where kept_until < now()
    returning 1
  )
  select count(*)::integer from purged
$$;
comment on function private.purge_email_unsubscribe_keys() is
  'Cron job body: forgets unsubscribe keys past kept_until; returns how many.';
revoke all on function private.purge_email_unsubscribe_keys() from public, anon, authenticated, service_role;

-- A stable job name: re-running the migration updates the job instead of adding another.
select cron.schedule('beacon-purge-email-unsubscribe-keys', '23 3 * * *', 'select private.purge_email_unsubscribe_keys()');
