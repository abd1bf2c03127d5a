-- Restores private.apply_scoring_changes of 20261125140600_rescoring.sql.

create or replace function private.apply_scoring_changes()
returns integer
language plpgsql
set search_path = ''
as $$
declare
  owner uuid;
  owners integer := 0;
begin
  for owner in
    select distinct q.user_id from private.scoring_rescores as q
  loop
    -- An owner another run is rescoring right now is left to it.
    if pg_try_advisory_xact_lock(private.scoring_lock_key(owner)) then
      perform private.rescore_leads(owner);
      owners := owners + 1;
    end if;
  end loop;
  return owners;
end;
$$;
comment on function private.apply_scoring_changes() is
  'pg_cron job beacon-apply-scoring-rules: rescores the leads of every user whose scoring rules or threshold changed; returns how many users.';

drop function private.try_rescore_leads(uuid);
drop function private.probe_profile_rule(public.scoring_rules);
