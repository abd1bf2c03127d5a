-- Rescoring isolates owners: the pg_cron job beacon-apply-scoring-rules rescores each owner
-- with a pending request in a subtransaction of its own (the rescoring itself stays one
-- set-based statement per owner), so an owner whose rules or leads make it fail never
-- stops the others in the same run. For a failing owner, the job:
--   1. evaluates each of their active profile rules alone over their leads; a rule that
--      fails is deactivated with the reason in scoring_rules.last_error (the owner sees
--      which rule and why, and their other rules still apply), then rescores them again;
--   2. if that fails too, or no single rule failed, marks their pending requests failed
--      (not retried every minute; their next change files a new one) and records the
--      reason in scoring_settings.last_error.
-- A successful rescoring clears a rescoring error from scoring_settings.last_error.

-- Whether a profile rule can be evaluated over every lead of its owner: raises what the
-- evaluation raises. Made from the same SQL text as rescoring (profile_rule_match_sql).
do $$
begin
  execute format($ddl$
    create function private.probe_profile_rule(rule public.scoring_rules)
    returns void
    language plpgsql
    stable
    set search_path = ''
    as $body$
    declare
      r private.applied_scoring_rules := private.compile_scoring_rule(rule);
    begin
      perform count(*)
      from public.leads as l
      where l.user_id = r.user_id
        and %s;
    end;
    $body$
  $ddl$, private.profile_rule_match_sql('r.', 'l'));
end;
$$;
comment on function private.probe_profile_rule(public.scoring_rules) is
  'Evaluates one profile rule over all its owner''s leads and raises what that raises (the rescoring job''s way to find a failing rule).';

-- One owner's rescoring in a subtransaction: null when it succeeded, else why it failed
-- (and nothing of it done).
create function private.try_rescore_leads(owner uuid)
returns text
language plpgsql
set search_path = ''
as $$
begin
  perform private.rescore_leads(owner);
  return null;
exception when others then
  return sqlerrm;
end;
$$;
comment on function private.try_rescore_leads(uuid) is
  'Rescores one owner''s leads in a subtransaction; returns null on success, else the error message (and rolls its work back).';

create or replace function private.apply_scoring_changes()
returns integer
language plpgsql
set search_path = ''
as $$
declare
  owner uuid;
  owners integer := 0;
  rule public.scoring_rules;
  failure text;
  blamed integer;
begin
  for owner in
    select distinct q.user_id from private.scoring_rescores as q where q.failed_at is null
  loop
    -- An owner another run is rescoring right now is left to it.
    continue when not pg_try_advisory_xact_lock(private.scoring_lock_key(owner));
    failure := private.try_rescore_leads(owner);
    -- Whatever happens in handling this owner stays with this owner.
    begin
      if failure is not null then
        -- Find the rules that fail on their own, and set them aside.
        blamed := 0;
        for rule in
          select r.* from public.scoring_rules as r
          where r.user_id = owner
            and r.is_active
            and r.condition ->> 'type' <> 'event'
          order by r.created_at, r.id
        loop
          begin
            perform private.probe_profile_rule(rule);
          exception when others then
            update public.scoring_rules as r
            set is_active = false,
                last_error = private.scoring_job_error('deactivated by rescoring', sqlerrm)
            where r.id = rule.id;
            blamed := blamed + 1;
          end;
        end loop;
        if blamed > 0 then
          failure := private.try_rescore_leads(owner);
        end if;
      end if;

      if failure is null then
        update public.scoring_settings as s
        set last_error = null
        where s.user_id = owner
          and s.last_error like 'rescoring %';
        owners := owners + 1;
      else
        perform private.record_scoring_error(owner, private.scoring_job_error('rescoring your leads failed', failure));
        update private.scoring_rescores as q
        set failed_at = now(),
            last_error = left(failure, 2000)
        where q.user_id = owner
          and q.failed_at is null;
      end if;
    exception when others then
      -- Not even the failure could be recorded on the owner's rows: the request stays for
      -- the next run, and the server log says why.
      raise warning 'beacon-apply-scoring-rules: could not handle the failure of owner %: %', owner, sqlerrm;
    end;
  end loop;
  return owners;
end;
$$;
comment on function private.apply_scoring_changes() is
  'pg_cron job beacon-apply-scoring-rules: rescores the leads of every user whose scoring rules or threshold changed, each in a subtransaction; a failing rule is deactivated with last_error, a failing owner''s request is marked failed; returns how many users were rescored.';

revoke all on function private.probe_profile_rule(public.scoring_rules), private.try_rescore_leads(uuid)
  from public, anon, authenticated, service_role;
