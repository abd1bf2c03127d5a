-- An unsubscribe is never lost to its side effects. private.record_email_event writes the
-- suppression and the delivery's unsubscribed_at first; the side effects (the analytics
-- event with the scoring and event workflows it sets off, and the email_event workflows
-- started by the delivery's change) run in a subtransaction. When they fail (a broken
-- scoring rule or workflow of the owner's), the unsubscribe stands, and what is left to do
-- waits here: the email tick retries it with backoff (1, 2, 4 ... minutes), up to 10
-- attempts, keeping the last error.
--
-- To write unsubscribed_at without the failing workflows, the delivery trigger that starts
-- email_event workflows is skipped while beacon.email_event_workflows is 'deferred' (set
-- locally, for one statement, by the email functions only).

create table private.email_unsubscribe_effects (
  delivery_id uuid primary key references public.email_deliveries (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  occurred_at timestamptz not null,
  details jsonb not null default '{}',
  machine boolean not null default false,
  workflows_pending boolean not null,
  analytics_pending boolean not null,
  attempts integer not null default 1,
  last_error text,
  run_after timestamptz not null,
  constraint email_unsubscribe_effects_pending_check check (workflows_pending or analytics_pending),
  constraint email_unsubscribe_effects_last_error_check check (length(last_error) <= 2000)
);
comment on table private.email_unsubscribe_effects is
  'Side effects of an unsubscribe that failed (analytics, scoring, workflows), retried by the email tick; the unsubscribe itself is already done.';

create index email_unsubscribe_effects_user_id_idx on private.email_unsubscribe_effects (user_id);
create index email_unsubscribe_effects_run_after_idx on private.email_unsubscribe_effects (run_after)
  where attempts < 10;

revoke all on table private.email_unsubscribe_effects from public, anon, authenticated, service_role;

drop trigger workflows_after_delivery_update on public.email_deliveries;
create trigger workflows_after_delivery_update
after update on public.email_deliveries
referencing old table as old_deliveries new table as new_deliveries
for each statement
when (current_setting('beacon.email_event_workflows', true) is distinct from 'deferred')
execute function private.match_email_event_workflows();
