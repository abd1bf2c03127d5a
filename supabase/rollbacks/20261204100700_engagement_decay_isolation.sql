-- Restores private.decay_engagement of 20261125140800_engagement_decay.sql.

create or replace function private.decay_engagement()
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
      e.points * power(0.5, extract(epoch from now() - e.decayed_at) / (h.days * 86400.0)) as points,
      floor(e.points * power(0.5, extract(epoch from now() - e.decayed_at) / (h.days * 86400.0)) + 0.5)
        - floor(e.points + 0.5) as change
    from private.lead_engagement as e
    left join public.scoring_settings as s on s.user_id = e.user_id
    cross join lateral (
      select case when s.user_id is null then 30 else s.engagement_half_life_days end as days
    ) as h
    where h.days is not null
      and e.decayed_at < now()
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
comment on function private.decay_engagement() is
  'pg_cron job beacon-decay-engagement (nightly): decays engagement points by each owner''s half-life; returns how many scores changed.';
revoke all on function private.decay_engagement() from public, anon, authenticated, service_role;

drop function private.decay_engagement_of(uuid);
