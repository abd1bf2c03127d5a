-- A tenant sends only as itself (issue 8, §6), checked when a campaign is scheduled.
--
-- With the platform's Resend key every owner's mail leaves from the same account, so an owner
-- may only put on the From and Reply-To lines an address on a domain they have verified
-- (public.sending_domains, status verified). An owner with their own RESEND_API_KEY secret
-- sends from their own Resend account, which decides what it allows: no check. No from_email
-- means the platform's own BEACON_EMAIL_FROM: always allowed.
--
-- The check runs when a campaign becomes scheduled (created as scheduled, or moved there) and
-- when a scheduled campaign's sender changes, so the error comes at schedule time, naming the
-- domain and what to do, and never at send time.

create function private.sender_problem(owner uuid, address text, path text)
returns text
language sql
stable
set search_path = ''
as $$
  with wanted as (
    select lower(split_part(address, '@', 2)) as domain
  )
  select case
    when address is null then null
    when exists (
      select
      from public.user_secrets as s
      where s.user_id = owner
        and s.secret_name = 'RESEND_API_KEY'
    ) then null
    when d.status = 'verified' then null
    when d.status is not null then format(
      '%s: %s is on %s, which is %s, not verified: publish the DNS records listed in sending_domains.records, '
      'then verify it (POST /functions/v1/domains/%s/verify), or send from a verified domain',
      path, address, w.domain, d.status, d.id)
    else format(
      '%s: %s is not on a sending domain you have verified: add %s (POST /functions/v1/domains '
      'with {"domain": "%s"}), publish its DNS records and verify it, or store your own RESEND_API_KEY '
      '(PUT /functions/v1/secrets/RESEND_API_KEY)',
      path, address, w.domain, w.domain)
  end
  from wanted as w
  left join public.sending_domains as d
    on d.user_id = owner
   and d.domain = w.domain
$$;
comment on function private.sender_problem(uuid, text, text) is
  'Why owner may not send as address (from_email or reply_to, named by path) with the platform''s Resend key, or null if they may.';
revoke all on function private.sender_problem(uuid, text, text) from public, anon, authenticated, service_role;

-- Security definer: apps schedule campaigns, and may not call into the private schema.
create function private.check_email_campaign_sender()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  problem text;
begin
  if new.status is distinct from 'scheduled'
     or (tg_op = 'UPDATE'
         and old.status = 'scheduled'
         and new.user_id = old.user_id
         and new.from_email is not distinct from old.from_email
         and new.reply_to is not distinct from old.reply_to) then
    return new;
  end if;
  problem := coalesce(
    private.sender_problem(new.user_id, new.from_email, 'from_email'),
    private.sender_problem(new.user_id, new.reply_to, 'reply_to'));
  if problem is not null then
    raise exception using
      errcode = 'check_violation',
      message = 'email campaign cannot be scheduled: ' || problem,
      hint = 'With the platform''s Resend key you send only from domains you have verified; leave from_email empty to send as the platform''s default sender.';
  end if;
  return new;
end;
$$;
comment on function private.check_email_campaign_sender() is
  'Trigger: a campaign is scheduled only with a from_email and reply_to on a domain its owner has verified (or with the owner''s own RESEND_API_KEY).';
revoke all on function private.check_email_campaign_sender() from public, anon, authenticated, service_role;

create trigger check_sender
before insert or update of status, from_email, reply_to, user_id on public.email_campaigns
for each row execute function private.check_email_campaign_sender();
