-- A campaign's status governs its email sends (issue 11):
--   campaign → paused     its sending email campaigns pause (their queue rows wait);
--   paused → active       its paused email campaigns resume;
--   → completed           its sending and paused email campaigns are cancelled, its
--                         scheduled ones go back to draft: nothing new is sent;
--   a scheduled email campaign that starts while its campaign is paused pauses at once
--   (completed: is cancelled at once), so the tick cannot send around the pause.
--
-- Done with triggers that move the email campaigns through their own lifecycle (the same
-- transitions an owner may make), not by a join in private.claim_email_batch: the claim,
-- the hot path run by every worker, already skips every email campaign that is not
-- `sending`, and stays exactly as it is. Each trigger runs as the caller: an owner changes
-- only her own campaigns (RLS), and the email campaigns of a campaign are the same owner's
-- (the foreign key includes user_id).

create function private.apply_campaign_status()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.status = 'paused' then
    update public.email_campaigns as e set status = 'paused'
    where e.campaign_id = new.id and e.user_id = new.user_id and e.status = 'sending';
  elsif new.status = 'active' and old.status = 'paused' then
    update public.email_campaigns as e set status = 'sending'
    where e.campaign_id = new.id and e.user_id = new.user_id and e.status = 'paused';
  elsif new.status = 'completed' then
    update public.email_campaigns as e set status = 'cancelled'
    where e.campaign_id = new.id and e.user_id = new.user_id and e.status in ('sending', 'paused');
    update public.email_campaigns as e set status = 'draft'
    where e.campaign_id = new.id and e.user_id = new.user_id and e.status = 'scheduled';
  end if;
  return null;
end;
$$;
comment on function private.apply_campaign_status() is
  'Trigger on campaigns (status changed): paused pauses its sending email campaigns, paused → active resumes them, completed cancels its sending/paused ones and takes its scheduled ones back to draft.';
revoke all on function private.apply_campaign_status() from public, anon, authenticated, service_role;

create trigger apply_status
after update of status on public.campaigns
for each row when (old.status is distinct from new.status)
execute function private.apply_campaign_status();

create function private.hold_email_campaign_for_campaign()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  parent_status text;
begin
  select c.status into parent_status
  from public.campaigns as c
  where c.id = new.campaign_id and c.user_id = new.user_id;
  if parent_status = 'paused' then
    update public.email_campaigns as e set status = 'paused' where e.id = new.id;
  elsif parent_status = 'completed' then
    update public.email_campaigns as e set status = 'cancelled' where e.id = new.id;
  end if;
  return null;
end;
$$;
comment on function private.hold_email_campaign_for_campaign() is
  'Trigger on email_campaigns becoming sending: if its campaign is paused it pauses at once, if completed it is cancelled at once.';
revoke all on function private.hold_email_campaign_for_campaign() from public, anon, authenticated, service_role;

-- Named to fire after apply_status (triggers fire in name order), i.e. after the fan-out.
create trigger hold_for_campaign
after update of status on public.email_campaigns
for each row when (new.status = 'sending' and old.status is distinct from 'sending' and new.campaign_id is not null)
execute function private.hold_email_campaign_for_campaign();
