-- A tenant sends only as itself, in workflows too (issue 8, §6): a send_email step's
-- from_email and reply_to are checked like a scheduled campaign's (private.sender_problem)
-- when the workflow is written, so the owner hears of an unverified domain then, and not
-- from a failed execution. The workflow config validator (check_config) has checked the
-- step's shape already: triggers on one table fire in name order.

-- Security definer: apps write workflows, and may not call into the private schema.
create function private.check_workflow_senders()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  problem text;
begin
  if jsonb_typeof(new.action_config -> 'steps') is distinct from 'array' then
    return new;
  end if;
  select p.problem
  into problem
  from jsonb_array_elements(new.action_config -> 'steps') with ordinality as s (step, n)
  cross join lateral (
    select coalesce(
      private.sender_problem(new.user_id, s.step ->> 'from_email', format('action_config.steps[%s].from_email', s.n - 1)),
      private.sender_problem(new.user_id, s.step ->> 'reply_to', format('action_config.steps[%s].reply_to', s.n - 1))
    ) as problem
  ) as p
  where jsonb_typeof(s.step) = 'object'
    and s.step ->> 'type' = 'send_email'
    and p.problem is not null
  order by s.n
  limit 1;
  if problem is not null then
    raise exception using
      errcode = 'check_violation',
      message = problem,
      hint = 'With the platform''s Resend key you send only from domains you have verified; leave from_email out to send as the platform''s default sender.';
  end if;
  return new;
end;
$$;
comment on function private.check_workflow_senders() is
  'Trigger: every send_email step''s from_email and reply_to is on a domain the owner has verified (or the owner has their own RESEND_API_KEY).';
revoke all on function private.check_workflow_senders() from public, anon, authenticated, service_role;

create trigger check_senders
before insert or update of action_config, user_id on public.workflows
for each row execute function private.check_workflow_senders();
