-- Social figures in the campaign reports (issue 11): report_campaigns and report_campaign keep
-- their names and columns; social_posts, social_impressions, social_likes and social_shares now
-- come from the campaign's content (content.campaign_id) and its social_posts targets:
--   social_posts        targets published in [from, to)
--   social_impressions, social_likes, social_shares
--                       those targets' latest metrics (impressions, likes, reposts), as
--                       beacon-social-metrics keeps them for 7 days after publishing
-- Both reports read one security-invoker function, reporting.campaign_figures, driven by the
-- caller's campaigns (all of them, or one): every other table is reached from a campaign
-- through an index on (campaign_id, user_id) or (content_id, status), and filtered by the
-- caller's id as well as by RLS, so another owner's rows never count.

create function reporting.campaign_figures(from_time timestamptz, to_time timestamptz, only_campaign uuid)
returns table (
  campaign_id uuid, name text, status text, email_campaigns bigint,
  sent bigint, delivered bigint, human_opens bigint, clicks bigint, unsubscribes bigint,
  bounces bigint, complaints bigint,
  delivery_rate numeric, open_rate numeric, click_rate numeric, unsubscribe_rate numeric, bounce_rate numeric,
  social_posts bigint, social_impressions bigint, social_likes bigint, social_shares bigint,
  leads bigint, conversions bigint, conversion_rate numeric
)
language sql
stable
set search_path = ''
as $$
  with me as (select (select auth.uid()) as uid),
  camps as (
    select c.id, c.name, c.status
    from public.campaigns as c, me
    where c.user_id = me.uid
      and (only_campaign is null or c.id = only_campaign)
  ),
  mail as (
    select ec.campaign_id,
           count(distinct ec.id) as email_campaigns,
           count(*) filter (where d.sent_at >= from_time and d.sent_at < to_time) as sent,
           count(*) filter (where d.delivered_at >= from_time and d.delivered_at < to_time) as delivered,
           count(*) filter (where d.human_opened_at >= from_time and d.human_opened_at < to_time) as human_opens,
           count(*) filter (where d.human_clicked_at >= from_time and d.human_clicked_at < to_time) as clicks,
           count(*) filter (where d.unsubscribed_at >= from_time and d.unsubscribed_at < to_time) as unsubscribes,
           count(*) filter (where d.bounced_at >= from_time and d.bounced_at < to_time) as bounces,
           count(*) filter (where d.complained_at >= from_time and d.complained_at < to_time) as complaints
    from camps as c
    cross join me
    join public.email_campaigns as ec on ec.campaign_id = c.id and ec.user_id = me.uid
    left join public.email_deliveries as d on d.email_campaign_id = ec.id and d.user_id = me.uid
    group by ec.campaign_id
  ),
  social as (
    -- Counts are at most 15 digits each (record_social_metrics); their sums are clamped to bigint.
    select ct.campaign_id,
           count(*) as posts,
           least(sum((t.metrics ->> 'impressions')::numeric), 9223372036854775807)::bigint as impressions,
           least(sum((t.metrics ->> 'likes')::numeric), 9223372036854775807)::bigint as likes,
           least(sum((t.metrics ->> 'reposts')::numeric), 9223372036854775807)::bigint as shares
    from camps as c
    cross join me
    join public.content as ct on ct.campaign_id = c.id and ct.user_id = me.uid
    join public.social_posts as t
      on t.content_id = ct.id
     and t.status = 'published'
     and t.user_id = me.uid
    where t.published_at >= from_time and t.published_at < to_time
    group by ct.campaign_id
  ),
  attributed as (
    select c.id as campaign_id, l.id as lead_id
    from camps as c
    cross join me
    join public.leads as l
      on l.user_id = me.uid
     and l.custom_fields -> 'first_touch' ->> 'utm_campaign' in (c.name, c.id::text)
    where l.created_at >= from_time and l.created_at < to_time
    union
    select c.id, l.id
    from camps as c
    cross join me
    join public.analytics_events as e
      on e.user_id = me.uid
     and e.properties ->> 'campaign_id' = c.id::text
     and e."timestamp" >= from_time and e."timestamp" < to_time
    join public.leads as l on l.user_id = me.uid and l.id::text = e.properties ->> 'lead_id'
  ),
  won as (
    select a.campaign_id,
           count(*) as leads,
           count(*) filter (where exists (
             select 1 from public.lead_status_history as h
             where h.lead_id = a.lead_id and h.user_id = (select auth.uid()) and h.to_status = 'converted'
               and h.changed_at >= from_time and h.changed_at < to_time)) as conversions
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
         coalesce(s.posts, 0), coalesce(s.impressions, 0), coalesce(s.likes, 0), coalesce(s.shares, 0),
         coalesce(w.leads, 0), coalesce(w.conversions, 0),
         round(w.conversions::numeric / nullif(w.leads, 0), 4)
  from camps as c
  left join mail as m on m.campaign_id = c.id
  left join social as s on s.campaign_id = c.id
  left join won as w on w.campaign_id = c.id
  order by c.name, c.id
$$;
comment on function reporting.campaign_figures(timestamptz, timestamptz, uuid) is
  'The rows of report_campaigns (only_campaign: that one campaign, else all) for the caller, activity in [from, to); security invoker.';
revoke all on function reporting.campaign_figures(timestamptz, timestamptz, uuid) from public, anon, authenticated, service_role;
grant execute on function reporting.campaign_figures(timestamptz, timestamptz, uuid) to authenticated;

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
begin
  perform reporting.check_range('report_campaigns', report_campaigns.from_time, report_campaigns.to_time);
  return query
  select * from reporting.campaign_figures(report_campaigns.from_time, report_campaigns.to_time, null);
end;
$$;
comment on function public.report_campaigns(timestamptz, timestamptz) is
  'One row per campaign of the caller, activity in [from, to): its email campaigns (sent, delivered, human opens, human clicks, unsubscribes, bounces, complaints and their rates: delivery and bounce over sent, the others over delivered), its social posts (targets of its content published in the range, and their latest impressions, likes and reposts as shares), leads attributed to it (first-touch utm_campaign = its name or id, or events with properties.campaign_id and properties.lead_id) and how many of them reached converted.';

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
begin
  if not exists (select 1 from public.campaigns as c where c.id = report_campaign.id) then
    -- One answer for "not there" and "not yours" (RLS hides other owners' campaigns).
    raise exception using errcode = 'no_data_found',
      message = format('report_campaign: no campaign %s', coalesce(report_campaign.id::text, 'null'));
  end if;
  return query
  select * from reporting.campaign_figures('-infinity', 'infinity', report_campaign.id);
end;
$$;
