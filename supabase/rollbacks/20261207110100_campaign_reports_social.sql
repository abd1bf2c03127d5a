-- Back to campaign reports whose social figures are always 0.
create or replace function public.report_campaigns(from_time timestamptz, to_time timestamptz)
returns table (
  campaign_id uuid, name text, status text, email_campaigns bigint,
  sent bigint, delivered bigint, human_opens bigint, clicks bigint, unsubscribes bigint,
  bounces bigint, complaints bigint,
  delivery_rate numeric, open_rate numeric, click_rate numeric, unsubscribe_rate numeric, bounce_rate numeric,
  social_posts bigint, social_impressions bigint, social_likes bigint, social_shares bigint,
  leads bigint, conversions bigint, conversion_rate numeric
)
language plpgsql
stable
set search_path = ''
as $$
#variable_conflict use_column
begin
  perform reporting.check_range('report_campaigns', report_campaigns.from_time, report_campaigns.to_time);
  return query
  with me as (select (select auth.uid()) as uid),
  camps as (
    select c.id, c.name, c.status from public.campaigns as c, me where c.user_id = me.uid
  ),
  mail as (
    select ec.campaign_id,
           count(distinct ec.id) as email_campaigns,
           count(*) filter (where d.sent_at >= report_campaigns.from_time and d.sent_at < report_campaigns.to_time) as sent,
           count(*) filter (where d.delivered_at >= report_campaigns.from_time and d.delivered_at < report_campaigns.to_time) as delivered,
           count(*) filter (where d.human_opened_at >= report_campaigns.from_time and d.human_opened_at < report_campaigns.to_time) as human_opens,
           count(*) filter (where d.human_clicked_at >= report_campaigns.from_time and d.human_clicked_at < report_campaigns.to_time) as clicks,
           count(*) filter (where d.unsubscribed_at >= report_campaigns.from_time and d.unsubscribed_at < report_campaigns.to_time) as unsubscribes,
           count(*) filter (where d.bounced_at >= report_campaigns.from_time and d.bounced_at < report_campaigns.to_time) as bounces,
           count(*) filter (where d.complained_at >= report_campaigns.from_time and d.complained_at < report_campaigns.to_time) as complaints
    from public.email_campaigns as ec
    cross join me
    left join public.email_deliveries as d on d.email_campaign_id = ec.id and d.user_id = me.uid
    where ec.user_id = me.uid and ec.campaign_id is not null
    group by ec.campaign_id
  ),
  attributed as (
    select c.id as campaign_id, l.id as lead_id
    from camps as c
    cross join me
    join public.leads as l
      on l.user_id = me.uid
     and l.custom_fields -> 'first_touch' ->> 'utm_campaign' in (c.name, c.id::text)
    where l.created_at >= report_campaigns.from_time and l.created_at < report_campaigns.to_time
    union
    select c.id, l.id
    from camps as c
    cross join me
    join public.analytics_events as e
      on e.user_id = me.uid
     and e.properties ->> 'campaign_id' = c.id::text
     and e."timestamp" >= report_campaigns.from_time and e."timestamp" < report_campaigns.to_time
    join public.leads as l on l.user_id = me.uid and l.id::text = e.properties ->> 'lead_id'
  ),
  won as (
    select a.campaign_id,
           count(*) as leads,
           count(*) filter (where exists (
             select 1 from public.lead_status_history as h
             where h.lead_id = a.lead_id and h.user_id = (select auth.uid()) and h.to_status = 'converted'
               and h.changed_at >= report_campaigns.from_time and h.changed_at < report_campaigns.to_time)) as conversions
    from attributed as a
    group by a.campaign_id
  )
  select c.id, c.name, c.status, coalesce(m.email_campaigns, 0),
         coalesce(m.sent, 0), coalesce(m.delivered, 0), coalesce(m.human_opens, 0), coalesce(m.clicks, 0),
         coalesce(m.unsubscribes, 0), coalesce(m.bounces, 0), coalesce(m.complaints, 0),
         round(m.delivered::numeric / nullif(m.sent, 0), 4),
         round(m.human_opens::numeric / nullif(m.delivered, 0), 4),
         round(m.clicks::numeric / nullif(m.delivered, 0), 4),
         round(m.unsubscribes::numeric / nullif(m.delivered, 0), 4),
         round(m.bounces::numeric / nullif(m.sent, 0), 4),
         0::bigint, 0::bigint, 0::bigint, 0::bigint,
         coalesce(w.leads, 0), coalesce(w.conversions, 0),
         round(w.conversions::numeric / nullif(w.leads, 0), 4)
  from camps as c
  left join mail as m on m.campaign_id = c.id
  left join won as w on w.campaign_id = c.id
  order by c.name, c.id;
end;
$$;
comment on function public.report_campaigns(timestamptz, timestamptz) is
  'One row per campaign of the caller, activity in [from, to): its email campaigns (sent, delivered, human opens, human clicks, unsubscribes, bounces, complaints and their rates: delivery and bounce over sent, the others over delivered), social posts (always 0: no social_posts table exists yet), leads attributed to it (first-touch utm_campaign = its name or id, or events with properties.campaign_id and properties.lead_id) and how many of them reached converted.';
revoke all on function public.report_campaigns(timestamptz, timestamptz) from public, anon, authenticated, service_role;
grant execute on function public.report_campaigns(timestamptz, timestamptz) to authenticated;

create or replace function public.report_campaign(id uuid)
returns table (
  campaign_id uuid, name text, status text, email_campaigns bigint,
  sent bigint, delivered bigint, human_opens bigint, clicks bigint, unsubscribes bigint,
  bounces bigint, complaints bigint,
  delivery_rate numeric, open_rate numeric, click_rate numeric, unsubscribe_rate numeric, bounce_rate numeric,
  social_posts bigint, social_impressions bigint, social_likes bigint, social_shares bigint,
  leads bigint, conversions bigint, conversion_rate numeric
)
language plpgsql
stable
set search_path = ''
as $$
#variable_conflict use_column
begin
  if not exists (select 1 from public.campaigns as c where c.id = report_campaign.id) then
    -- One answer for "not there" and "not yours" (RLS hides other owners' campaigns).
    raise exception using errcode = 'no_data_found',
      message = format('report_campaign: no campaign %s', coalesce(report_campaign.id::text, 'null'));
  end if;
  return query
  select r.* from public.report_campaigns('-infinity', 'infinity') as r
  where r.campaign_id = report_campaign.id;
end;
$$;
comment on function public.report_campaign(uuid) is
  'report_campaigns for one campaign of the caller over all time; an unknown (or another owner''s) campaign is an error.';
revoke all on function public.report_campaign(uuid) from public, anon, authenticated, service_role;
grant execute on function public.report_campaign(uuid) to authenticated;

drop function reporting.campaign_figures(timestamptz, timestamptz, uuid);
