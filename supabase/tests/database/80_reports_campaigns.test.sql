-- Campaign, funnel and source reports: the figures match the rows behind them, another
-- owner's campaigns, leads, events and deliveries never appear (not even through a shared
-- campaign name or a campaign id in another owner's events), anon may call none of them,
-- and a bad range or an unknown campaign is an error that says so. Social figures: the published
-- targets of the campaign's content and their metrics, never another owner's posts.
begin;
\ir _helpers.psql

select plan(24);

do $$
declare
  alice uuid := tests.create_user('alice');
  mallory uuid := tests.create_user('mallory');
  camp uuid;
  mcamp uuid;
  ec uuid;
  l2 uuid;
begin
  perform tests.create_user('eve');
  camp := tests.insert_row('campaigns', 'alice', '{"name": "Spring"}');
  mcamp := tests.insert_row('campaigns', 'mallory', '{"name": "Spring"}');
  ec := tests.insert_row('email_campaigns', 'alice', jsonb_build_object('campaign_id', camp));
  insert into public.email_deliveries
    (user_id, email_campaign_id, email, idempotency_key, status, sent_at, delivered_at, human_opened_at,
     human_clicked_at, bounced_at, unsubscribed_at)
  values (alice, ec, 'a@x.test', 'k1', 'sent', now(), now(), now(), now(), null, now()),
         (alice, ec, 'b@x.test', 'k2', 'sent', now(), now(), now(), null, null, null),
         (alice, ec, 'c@x.test', 'k3', 'sent', now(), now(), null, null, null, null),
         (alice, ec, 'd@x.test', 'k4', 'sent', now(), null, null, null, now(), null);
  insert into public.leads (user_id, email, source, custom_fields) values
    (alice, 'l1@x.test', 'website', '{"first_touch": {"utm_campaign": "Spring", "utm_source": "google", "utm_medium": "cpc"}}'),
    (alice, 'l3@x.test', null, '{}'),
    (mallory, 'm1@x.test', 'website', '{"first_touch": {"utm_campaign": "Spring", "utm_source": "google", "utm_medium": "cpc"}}');
  insert into public.leads (user_id, email) values (alice, 'l2@x.test') returning id into l2;
  insert into public.analytics_events (user_id, event_type, event_name, properties)
  values (alice, 'track', 'signup', jsonb_build_object('campaign_id', camp, 'lead_id', l2)),
         (mallory, 'track', 'signup', jsonb_build_object('campaign_id', camp,
           'lead_id', (select id from public.leads where email = 'l3@x.test')));
  update public.leads set status = 'converted' where email in ('l1@x.test', 'm1@x.test');
  update public.leads set status = 'contacted' where id = l2;
  -- Social: alice's campaign content A (two targets published today, one failed), C (published
  -- three days ago), D outside any campaign; mallory's same-named campaign's own published post.
  insert into public.social_connections (user_id, platform, platform_user_id, access_token, scopes)
  values (alice, 'linkedin', 'li-alice', 'v1:ciphertext', '{w_member_social}'),
         (alice, 'twitter', 'x-alice', 'v1:ciphertext', '{tweet.write}'),
         (mallory, 'linkedin', 'li-mallory', 'v1:ciphertext', '{w_member_social}');
  insert into public.content (user_id, title, content_type, content, campaign_id)
  values (alice, 'A', 'social_post', 'Spring A', camp), (alice, 'B', 'social_post', 'Spring B', camp),
         (alice, 'C', 'social_post', 'Spring C', camp), (alice, 'D', 'social_post', 'No campaign', null),
         (mallory, 'M', 'social_post', 'Spring M', mcamp);
  insert into public.social_posts (user_id, content_id, social_connection_id)
  select ct.user_id, ct.id, sc.id
  from public.content as ct
  join public.social_connections as sc
    on sc.user_id = ct.user_id and (sc.platform = 'linkedin' or (ct.title in ('A', 'D') and sc.platform = 'twitter'))
  where ct.title in ('A', 'B', 'C', 'D', 'M');
  update public.social_posts as t
  set status = case when ct.title = 'B' then 'failed' else 'published' end,
      published_at = case when ct.title = 'C' then now() - interval '3 days' else now() end,
      metrics = case
        when ct.title = 'A' and sc.platform = 'linkedin' then '{"impressions": 100, "likes": 5, "reposts": 2}'
        when ct.title = 'A' then '{"likes": 3, "reposts": 1, "replies": 4}'
        when ct.title = 'C' then '{"likes": 7}'
        when ct.title = 'D' then '{"impressions": 500, "likes": 50, "reposts": 5}'
        when ct.title = 'M' then '{"impressions": 9000, "likes": 1000, "reposts": 100}'
        else '{}' end::jsonb
  from public.content as ct, public.social_connections as sc
  where ct.id = t.content_id and sc.id = t.social_connection_id;
  create table tests.ids as select camp as camp, mcamp as mcamp;
  grant select on tests.ids to authenticated;
end;
$$;

select tests.authenticate_as('alice');
select results_eq(
  $$select name, email_campaigns, sent, delivered, human_opens, clicks, unsubscribes, bounces, complaints
    from public.report_campaigns(now() - interval '1 day', now() + interval '1 day')$$,
  $$values ('Spring'::text, 1::bigint, 4::bigint, 3::bigint, 2::bigint, 1::bigint, 1::bigint, 1::bigint, 0::bigint)$$,
  'report_campaigns: alice''s one campaign, her email figures only');
select results_eq(
  $$select delivery_rate, open_rate, click_rate, unsubscribe_rate, bounce_rate
    from public.report_campaigns(now() - interval '1 day', now() + interval '1 day')$$,
  $$values (0.75, 0.6667, 0.3333, 0.3333, 0.25)$$,
  'rates: delivered and bounced over sent, opens, clicks and unsubscribes over delivered');
select results_eq(
  $$select leads, conversions, conversion_rate, social_posts
    from public.report_campaigns(now() - interval '1 day', now() + interval '1 day')$$,
  $$values (2::bigint, 1::bigint, 0.5, 2::bigint)$$,
  'two leads attributed (first-touch utm_campaign, an event with campaign_id), one converted; mallory''s same-named campaign, lead and event do not count');
select is((select sent from public.report_campaigns(now() + interval '1 day', now() + interval '2 days')), 0::bigint,
  'activity outside the window does not count');
select results_eq(
  $$select social_posts, social_impressions, social_likes, social_shares
    from public.report_campaigns(now() - interval '1 day', now() + interval '1 day')$$,
  $$values (2::bigint, 100::bigint, 8::bigint, 3::bigint)$$,
  'social: the campaign''s two targets published in the range and their metrics (reposts as shares); not the failed one, not content outside the campaign, not mallory''s');
select results_eq(
  $$select social_posts, social_impressions, social_likes, social_shares
    from public.report_campaigns(now() + interval '1 day', now() + interval '2 days')$$,
  $$values (0::bigint, 0::bigint, 0::bigint, 0::bigint)$$,
  'no social figures for a range without publishing');
select results_eq(
  $$select social_posts, social_impressions, social_likes, social_shares from tests.ids, public.report_campaign(camp)$$,
  $$values (3::bigint, 100::bigint, 15::bigint, 3::bigint)$$,
  'report_campaign: all time, the post published three days ago too');
select results_eq(
  $$select sent, leads, conversions from tests.ids, public.report_campaign(camp)$$,
  $$values (4::bigint, 2::bigint, 1::bigint)$$,
  'report_campaign: the same row for one campaign, all time');
select throws_ok($$select * from tests.ids, public.report_campaign(mcamp)$$, 'P0002',
  null, 'another owner''s campaign is not found');
select throws_ok($$select * from public.report_campaign(null)$$, 'P0002',
  'report_campaign: no campaign null', 'a null campaign is refused');
select results_eq(
  $$select stage, leads, rate_from_previous from public.report_funnel(now() - interval '1 day', now() + interval '1 day')$$,
  $$values ('new'::text, 3::bigint, null::numeric), ('contacted', 1, 0.3333), ('qualified', 0, 0.0000),
           ('converted', 1, null), ('lost', 0, 0.0000)$$,
  'report_funnel: alice''s three new leads by stage with the rate from the previous stage');
select results_eq(
  $$select source, utm_source, utm_medium, leads, conversions, conversion_rate
    from public.report_sources(now() - interval '1 day', now() + interval '1 day')$$,
  $$values (null::text, null::text, null::text, 2::bigint, 0::bigint, 0.0000), ('website', 'google', 'cpc', 1, 1, 1.0000)$$,
  'report_sources: alice''s leads by source and first-touch UTM, with conversions');
select throws_ok($$select * from public.report_campaigns(now(), now())$$, '22023',
  'report_campaigns: from_time and to_time are required and from_time must be before to_time', 'report_campaigns refuses an empty range');
select throws_ok($$select * from public.report_funnel(null, now())$$, '22023',
  'report_funnel: from_time and to_time are required and from_time must be before to_time', 'report_funnel refuses a missing from');
select throws_ok($$select * from public.report_sources(now(), now() - interval '1 day')$$, '22023',
  'report_sources: from_time and to_time are required and from_time must be before to_time', 'report_sources refuses a reversed range');

select tests.authenticate_as('mallory');
select results_eq(
  $$select name, sent, leads, conversions, social_posts, social_impressions, social_likes, social_shares
    from public.report_campaigns('-infinity', 'infinity')$$,
  $$values ('Spring'::text, 0::bigint, 1::bigint, 1::bigint, 1::bigint, 9000::bigint, 1000::bigint, 100::bigint)$$,
  'mallory sees her campaign only, with none of alice''s sends or posts');
select results_eq(
  $$select social_posts, social_likes from tests.ids, public.report_campaign(mcamp)$$,
  $$values (1::bigint, 1000::bigint)$$,
  'report_campaign of her own campaign: her post only');
select is((select sum(leads)::int from public.report_sources('-infinity', 'infinity')), 1, 'and her one lead in report_sources');

select tests.authenticate_as('eve');
select is_empty($$select * from public.report_campaigns('-infinity', 'infinity')$$, 'eve gets no campaigns');
select is((select sum(leads)::int from public.report_funnel('-infinity', 'infinity')), 0, 'an empty funnel');
select is_empty($$select * from public.report_sources('-infinity', 'infinity')$$, 'and no sources');

select tests.authenticate_as_anon();
select throws_ok($$select * from public.report_campaigns('-infinity', 'infinity')$$, '42501', null, 'anon may not call report_campaigns');
select throws_ok($$select * from public.report_funnel('-infinity', 'infinity')$$, '42501', null, 'nor report_funnel');
select throws_ok($$select * from public.report_sources('-infinity', 'infinity')$$, '42501', null, 'nor report_sources');

select * from finish();
rollback;
