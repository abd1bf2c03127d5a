-- Where the scoring jobs record a failure, on the failing owner's own rows, so that one
-- owner's data never stops the jobs for everyone else and the owner can read why:
--
--   public.scoring_rules.last_error     a profile rule that made rescoring fail is
--       deactivated by the job with the reason here; cleared when its owner edits the rule.
--   public.scoring_settings.last_error  a job failed on the owner's data for a reason no
--       single rule explains: "rescoring ..." or "engagement decay ..."; cleared when that
--       job next succeeds for the owner.
--   private.scoring_rescores.failed_at, last_error   the owner's pending rescoring request
--       that failed: the job does not retry it every minute; the owner's next change of a
--       rule or threshold files a new request, and its success removes the failed ones.
--
-- Owners read both last_error columns (the tables' select grants) and write neither (the
-- insert and update grants are column lists without them).

alter table public.scoring_rules
  add column last_error text,
  add constraint scoring_rules_last_error_check check (length(last_error) between 1 and 2000);
comment on column public.scoring_rules.last_error is
  'Why the scoring job deactivated this rule (set by Beacon, read-only for the owner); cleared when the rule is edited.';

alter table public.scoring_settings
  add column last_error text,
  add constraint scoring_settings_last_error_check check (length(last_error) between 1 and 2000);
comment on column public.scoring_settings.last_error is
  'The last failure of a scoring job (rescoring, engagement decay) on this owner''s data, with when and why; set by Beacon, read-only for the owner.';

alter table private.scoring_rescores
  add column failed_at timestamptz,
  add column last_error text;
comment on column private.scoring_rescores.failed_at is
  'When rescoring this request failed; the job skips failed requests until the owner files a new one.';
comment on column private.scoring_rescores.last_error is 'Why rescoring this request failed.';

-- An owner editing a rule the job deactivated starts over: the old reason goes.
create function private.clear_scoring_rule_error()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.last_error is not distinct from old.last_error then
    new.last_error := null;
  end if;
  return new;
end;
$$;
comment on function private.clear_scoring_rule_error() is
  'Trigger: clears a scoring rule''s last_error when it is edited (by anyone but the job that sets it).';
revoke all on function private.clear_scoring_rule_error() from public, anon, authenticated, service_role;

create trigger clear_last_error
before update of name, condition, points, is_active on public.scoring_rules
for each row
when (old.last_error is not null)
execute function private.clear_scoring_rule_error();

-- What the jobs write in a last_error: what happened, when, and the error's own message.
create function private.scoring_job_error(what text, reason text)
returns text
language sql
stable
set search_path = ''
as $$
  select left(format('%s at %s UTC: %s', what, to_char(now() at time zone 'UTC', 'YYYY-MM-DD HH24:MI'), reason), 2000)
$$;
comment on function private.scoring_job_error(text, text) is
  'A scoring job''s failure as owners read it: "<what> at <YYYY-MM-DD HH24:MI> UTC: <reason>", at most 2000 characters.';
revoke all on function private.scoring_job_error(text, text) from public, anon, authenticated, service_role;

-- A failure no single rule explains, on the owner's settings row (made if missing: its
-- defaults are those of an owner without one).
create function private.record_scoring_error(owner uuid, message text)
returns void
language sql
set search_path = ''
as $$
  insert into public.scoring_settings as s (user_id, last_error)
  values (owner, message)
  on conflict (user_id) do update
  set last_error = excluded.last_error
$$;
comment on function private.record_scoring_error(uuid, text) is
  'Records a scoring job''s failure on the owner''s scoring_settings row (last_error).';
revoke all on function private.record_scoring_error(uuid, text) from public, anon, authenticated, service_role;
