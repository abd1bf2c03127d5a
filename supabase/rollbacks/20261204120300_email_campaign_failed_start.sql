-- Restores the lifecycle of 20261125130100_email_campaign_lifecycle.sql.

create or replace function private.enforce_email_campaign_lifecycle()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  by_client constant boolean := current_user = 'authenticated';
  allowed text[];
  frozen_column text;
begin
  if tg_op = 'INSERT' then
    -- Unknown statuses are left to email_campaigns_status_check, which names them.
    if new.status in ('sending', 'paused', 'sent', 'failed', 'cancelled') then
      raise exception using
        errcode = 'check_violation',
        message = format('a new email campaign cannot start as %s', new.status),
        hint = 'Create it as draft, or as scheduled with send_at: sending starts by itself at send_at.';
    end if;
    return new;
  end if;

  if old.status not in ('draft', 'scheduled') then
    frozen_column := case
      when new.subject is distinct from old.subject then 'subject'
      when new.content is distinct from old.content then 'content'
      when new.recipient_list is distinct from old.recipient_list then 'recipient_list'
      when new.template_id is distinct from old.template_id then 'template_id'
      when new.from_email is distinct from old.from_email then 'from_email'
      when new.from_name is distinct from old.from_name then 'from_name'
      when new.reply_to is distinct from old.reply_to then 'reply_to'
    end;
    if frozen_column is not null then
      raise exception using
        errcode = 'check_violation',
        message = format('email campaign %s cannot change once the campaign is %s', frozen_column, old.status),
        hint = 'Only draft and scheduled campaigns can be edited; create a new campaign to send something else.';
    end if;
  end if;

  if new.status = old.status
     or new.status not in ('draft', 'scheduled', 'sending', 'paused', 'sent', 'failed', 'cancelled') then
    return new;
  end if;

  allowed := case old.status
    when 'draft' then array['scheduled']
    when 'scheduled' then case when by_client then array['draft'] else array['draft', 'sending'] end
    when 'sending' then case when by_client then array['paused', 'cancelled']
                             else array['paused', 'cancelled', 'sent', 'failed'] end
    when 'paused' then array['sending', 'cancelled']
    else array[]::text[]
  end;
  if new.status <> all (allowed) then
    raise exception using
      errcode = 'check_violation',
      message = format('an email campaign cannot move from %s to %s: %s', old.status, new.status,
        case when cardinality(allowed) = 0 then format('%s is final', old.status)
             else format('from %s it may move to %s', old.status, array_to_string(allowed, ' or ')) end),
      hint = case
        when new.status in ('sending', 'sent', 'failed') and old.status <> 'paused' then
          'Sending starts by itself at send_at, and the campaign becomes sent or failed when every delivery is done.'
        when cardinality(allowed) = 0 then 'Create a new email campaign to send again.'
        else 'Pause, resume (paused to sending) or cancel a send; take a scheduled send back to draft to change it.'
      end;
  end if;
  return new;
end;
$$;
