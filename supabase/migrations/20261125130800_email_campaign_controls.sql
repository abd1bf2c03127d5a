-- What a status change does to a campaign's deliveries:
--   scheduled → sending   fan-out (private.fan_out_email_campaign);
--   → paused              its queue rows wait;
--   paused → sending      they may be claimed again;
--   → cancelled           queued deliveries become 'cancelled' and leave the queue, except
--                         those a worker holds right now: that send may already be under way,
--                         so its result is recorded when the worker reports it (a retry
--                         becomes 'cancelled' then), or the tick cancels it when the lease
--                         runs out. Nothing already sent is sent again.
-- Security definer: an owner pausing or cancelling from the app has no access to the queue.

create function private.apply_email_campaign_status()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if old.status = 'scheduled' and new.status = 'sending' then
    perform private.fan_out_email_campaign(new.id);
  elsif new.status = 'paused' then
    update private.email_queue as q
    set paused = true
    where q.email_campaign_id = new.id
      and not q.paused;
  elsif old.status = 'paused' and new.status = 'sending' then
    update private.email_queue as q
    set paused = false
    where q.email_campaign_id = new.id
      and q.paused;
  elsif new.status = 'cancelled' then
    with cancelled as (
      delete from private.email_queue as q
      where q.email_campaign_id = new.id
        and (q.lease_until is null or q.lease_until <= now())
      returning q.delivery_id
    )
    update public.email_deliveries as d
    set status = 'cancelled'
    from cancelled as c
    where d.id = c.delivery_id
      and d.status = 'queued';
  end if;
  return null;
end;
$$;
comment on function private.apply_email_campaign_status() is
  'Trigger: fans a campaign out when it starts sending; pauses, resumes or cancels its queued deliveries with it.';
revoke all on function private.apply_email_campaign_status() from public, anon, authenticated, service_role;

create trigger apply_status
after update of status on public.email_campaigns
for each row
when (old.status is distinct from new.status)
execute function private.apply_email_campaign_status();
