-- An unsubscribe link cannot be lost to a report that has not come back yet (issue 8 §3).
-- Deleting a campaign keeps the unsubscribe keys of the deliveries that may have reached
-- someone; it took those with sent_at set or attempts > 0, but both are written only when the
-- worker reports (private.complete_email_batch): a claim bumps private.jobs.attempts, not the
-- deliveries'. A campaign deleted while a claimed chunk was sent and not yet reported lost its
-- recipients' links. Now a delivery keeps its key unless it is plainly unsent: still queued,
-- cancelled or suppressed, and not a member of a chunk any worker has claimed.

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
  -- The members of the campaign's chunks a worker has claimed (the jobs are deleted after this
  -- trigger), read once: a set for the test below, not a probe per delivery.
  with claimed as (
    select m.id::uuid as delivery_id
    from private.jobs as j
    cross join lateral jsonb_array_elements_text(j.payload -> 'members') as m (id)
    where j.kind = 'email'
      and j.subject_id = old.id
      and j.attempts > 0
  )
  insert into private.email_unsubscribe_keys (delivery_id, user_id, email, sender, unsubscribed_at, kept_until)
  select d.id, d.user_id, d.email, coalesce(old.from_name, old.from_email), d.unsubscribed_at, now() + interval '60 days'
  from public.email_deliveries as d
  where d.email_campaign_id = old.id
    and (d.sent_at is not null
      or d.attempts > 0
      or d.status not in ('queued', 'cancelled', 'suppressed')
      or d.id in (select c.delivery_id from claimed as c))
  on conflict (delivery_id) do nothing;
  return old;
end;
$$;
comment on function private.keep_email_unsubscribe_keys() is
  'Trigger (before delete on email_campaigns): keeps, for 60 days, the unsubscribe keys of the deliveries that may have been sent: sent, reported on, in any state but queued, cancelled or suppressed, or members of a chunk a worker has claimed.';
