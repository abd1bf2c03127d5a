-- Engagement decay isolates owners and stays within the score's range. The nightly job
-- beacon-decay-engagement first decays every owner in one set-based statement, as before; if
-- that fails, it decays each owner in a subtransaction of their own, so the owners whose
-- data makes it fail are recorded (scoring_settings.last_error: "engagement decay failed
-- at ...: <reason>") and everyone else's points decay in the same run. A decay never takes a
-- score out of -100000 to 100000: the score changes as far as the bound lets it, and the
-- ledger row (source decay) records that change, so the ledger still sums to the score.

create function private.decay_engagement_of(owner uuid)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  changed integer;
begin
  perform set_config('beacon.trusted_score_write', 'on', true);
  with decayed as materialized (
    select
      e.lead_id,
      e.user_id,
      h.days,
      n.points,
      least(greatest(l.score + floor(n.points + 0.5) - floor(e.points + 0.5), -100000), 100000) - l.score as change
    from private.lead_engagement as e
    join public.leads as l on l.id = e.lead_id
    left join public.scoring_settings as s on s.user_id = e.user_id
    cross join lateral (
      select case when s.user_id is null then 30 else s.engagement_half_life_days end as days
    ) as h
    cross join lateral (
      select e.points * power(0.5, extract(epoch from now() - e.decayed_at) / (h.days * 86400.0)) as points
    ) as n
    where h.days is not null
      and e.decayed_at < now()
      and (owner is null or e.user_id = owner)
    for update of e skip locked
  ),
  ledgered as (
    insert into public.lead_score_ledger (user_id, lead_id, points, source, reason)
    select d.user_id, d.lead_id, d.change, 'decay', format('engagement decay (half-life %s days)', d.days)
    from decayed as d
    where d.change <> 0
  ),
  kept as (
    update private.lead_engagement as e
    set points = d.points,
        decayed_at = now()
    from decayed as d
    where e.lead_id = d.lead_id
      and abs(d.points) >= 0.5
  ),
  -- Less than half a point is nothing in the score: forget it.
  dropped as (
    delete from private.lead_engagement as e
    using decayed as d
    where e.lead_id = d.lead_id
      and abs(d.points) < 0.5
  ),
  updated as (
    update public.leads as l
    set score = l.score + d.change
    from decayed as d
    where l.id = d.lead_id
      and d.change <> 0
    returning 1
  )
  select count(*) into changed from updated;
  perform set_config('beacon.trusted_score_write', '', true);
  return changed;
end;
$$;
comment on function private.decay_engagement_of(uuid) is
  'Decays the engagement points of one owner (null: every owner) by their half-life, set-based, within the score''s range; returns how many scores changed.';

create or replace function private.decay_engagement()
returns integer
language plpgsql
set search_path = ''
as $$
declare
  owner uuid;
  changed integer := 0;
  failure text;
begin
  begin
    changed := private.decay_engagement_of(null);
  exception when others then
    -- Someone's data fails the statement: decay owner by owner, each on their own.
    for owner in select distinct e.user_id from private.lead_engagement as e loop
      begin
        changed := changed + private.decay_engagement_of(owner);
      exception when others then
        failure := sqlerrm;
        begin
          perform private.record_scoring_error(owner, private.scoring_job_error('engagement decay failed', failure));
        exception when others then
          raise warning 'beacon-decay-engagement: could not record the failure of owner % (%): %', owner, failure, sqlerrm;
        end;
      end;
    end loop;
  end;
  -- The owners whose decay failed before and succeeded now.
  update public.scoring_settings as s
  set last_error = null
  where s.last_error like 'engagement decay %'
    and not exists (
      select from private.lead_engagement as e
      where e.user_id = s.user_id
        and e.decayed_at < now()
    );
  return changed;
end;
$$;
comment on function private.decay_engagement() is
  'pg_cron job beacon-decay-engagement (nightly): decays engagement points by each owner''s half-life, set-based; if that fails, owner by owner, recording a failing owner''s reason in scoring_settings.last_error; returns how many scores changed.';

revoke all on function private.decay_engagement_of(uuid) from public, anon, authenticated, service_role;
