-- Lead scoring, the seed's rule set: a company is worth 10 points, a phone number 5.
-- leads.score always equals it: a trigger recomputes it on every insert and update, so no
-- client (which cannot write the column anyway) and no bulk import can leave it stale.

-- The rule itself, over a lead row, so the trigger can score a row before it is stored.
-- Pure and harmless, so it may stay in public (PostgREST shows it as a computed field).
create function public.lead_profile_score(lead public.leads)
returns integer
language sql
immutable
set search_path = ''
as $$
  select (case when lead.company is not null then 10 else 0 end)
       + (case when lead.phone is not null then 5 else 0 end)
$$;
comment on function public.lead_profile_score(public.leads) is
  'The profile score of a lead row: company +10, phone +5.';

create function public.calculate_lead_score(lead_id uuid)
returns integer
language plpgsql
stable
set search_path = ''
as $$
declare
  lead public.leads;
begin
  select * into lead from public.leads as l where l.id = lead_id;
  if not found then
    raise exception 'lead % not found', lead_id
      using errcode = 'P0002', hint = 'Pass the id of one of your own leads.';
  end if;
  return public.lead_profile_score(lead);
end;
$$;
comment on function public.calculate_lead_score(uuid) is
  'The score of one of the caller''s leads, by the seed''s rules (company +10, phone +5).';

revoke all on function public.lead_profile_score(public.leads), public.calculate_lead_score(uuid)
  from public, anon;
grant execute on function public.lead_profile_score(public.leads), public.calculate_lead_score(uuid)
  to authenticated, service_role;

create function private.set_lead_score()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.score := public.lead_profile_score(new);
  return new;
end;
$$;
comment on function private.set_lead_score() is 'Trigger: keeps leads.score equal to lead_profile_score.';
revoke all on function private.set_lead_score() from public;

create trigger set_lead_score
before insert or update on public.leads
for each row execute function private.set_lead_score();
