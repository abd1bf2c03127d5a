-- Restores private.award_engagement of 20261125140700_engagement_scoring.sql.

-- Security definer: apps record events, and may not write scores or the ledger.
create or replace function private.award_engagement()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform set_config('beacon.trusted_score_write', 'on', true);
  with hits as (
    select
      e.id as event_id,
      e.user_id,
      e.event_type,
      e.event_name,
      e."timestamp",
      r.id as rule_id,
      r.name,
      r.points,
      (r.condition ->> 'cap')::integer as cap,
      r.condition ->> 'period' as period,
      private.event_lead_id(e.user_id, e.properties) as lead_id
    from new_events as e
    join public.scoring_rules as r
      on r.user_id = e.user_id
     and r.is_active
     and r.condition ->> 'type' = 'event'
    where (r.condition ->> 'event_type' is null or r.condition ->> 'event_type' = e.event_type)
      and (r.condition ->> 'event_name' is null or r.condition ->> 'event_name' = e.event_name)
      and (r.condition -> 'properties' is null or e.properties @> (r.condition -> 'properties'))
  ),
  tallied as (
    select
      h.*,
      -- Points this rule already gave this lead in the current period.
      case when h.cap is not null then coalesce((
        select abs(sum(g.points))
        from public.lead_score_ledger as g
        where g.lead_id = h.lead_id
          and g.rule_id = h.rule_id
          and g.source = 'event'
          and g.created_at >= date_trunc(h.period, now(), 'UTC')
      ), 0) end as earned,
      row_number() over (partition by h.lead_id, h.rule_id order by h."timestamp", h.event_id) as n
    from hits as h
    where h.lead_id is not null
  ),
  awards as materialized (
    select
      t.*,
      case
        when t.cap is null then t.points
        else sign(t.points)::integer * (
          least(t.n * abs(t.points), greatest(t.cap - t.earned, 0))
          - least((t.n - 1) * abs(t.points), greatest(t.cap - t.earned, 0))
        )::integer
      end as award
    from tallied as t
  ),
  ledgered as (
    insert into public.lead_score_ledger (user_id, lead_id, points, source, reason, rule_id, event_id)
    select a.user_id, a.lead_id, a.award, 'event', a.name || ': ' || a.event_type || '/' || a.event_name,
           a.rule_id, a.event_id
    from awards as a
    where a.award <> 0
  ),
  totals as materialized (
    select a.lead_id, a.user_id, sum(a.award)::integer as points
    from awards as a
    group by a.lead_id, a.user_id
    having sum(a.award) <> 0
  ),
  engaged as (
    insert into private.lead_engagement as g (lead_id, user_id, points)
    select t.lead_id, t.user_id, t.points
    from totals as t
    on conflict (lead_id) do update
    set points = g.points + excluded.points
  )
  update public.leads as l
  set score = l.score + t.points
  from totals as t
  where l.id = t.lead_id;
  perform set_config('beacon.trusted_score_write', '', true);
  return null;
end;
$$;
comment on function private.award_engagement() is
  'Trigger (after insert on analytics_events, per statement): awards engagement rules'' points to the leads the events are about, within caps, with ledger rows.';
