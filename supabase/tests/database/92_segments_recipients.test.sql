-- Email campaigns send to saved segments (migration email_segment_recipients): a
-- {"segment": id} entry must name one of the owner's segments (errors name the entry), and
-- fan-out resolves its members set-based: the deliveries are exactly the leads the segments
-- hold, merged one per address with the list's other entries.
begin;
\ir _helpers.psql

select plan(10);

do $$ begin perform tests.create_user('alice'); perform tests.create_user('bob'); end; $$;
update private.email_queue set paused = true where not paused;

-- alice: 60 leads, a third qualified, a quarter vip; bob: one lead and a segment of all his.
insert into public.leads (user_id, email, status, tags)
select tests.get_user_id('alice'), format('lead%s@example.test', n),
  (array['new', 'qualified', 'lost'])[1 + n % 3], case when n % 4 = 0 then '{vip}'::text[] else '{}' end
from generate_series(1, 60) as n;
insert into public.leads (user_id, email) values (tests.get_user_id('bob'), 'bob-lead@example.test');
insert into public.segments (user_id, name, predicate) values
  (tests.get_user_id('alice'), 'qualified', '{"statuses": ["qualified"]}'),
  (tests.get_user_id('alice'), 'vip', '{"tags": {"any": ["vip"]}}'),
  (tests.get_user_id('bob'), 'everyone', '{}');
select id as qualified from public.segments where name = 'qualified' \gset
select id as vip from public.segments where name = 'vip' \gset
select id as bobs from public.segments where name = 'everyone' \gset

-- ==== acting as alice ====
select tests.authenticate_as('alice');
select throws_ok(format($$insert into public.email_campaigns (subject, content, recipient_list)
    values ('Hi', 'Hello', '[{"segment": %s}]')$$, to_json(:'bobs'::text)),
  '23514', format('recipient_list[0].segment: no segment "%s" among yours', :'bobs'),
  'another owner''s segment is refused, naming the entry');
select throws_ok($$insert into public.email_campaigns (subject, content, recipient_list)
    values ('Hi', 'Hello', '["a@example.test", {"segment": "vip"}]')$$,
  '23514', 'recipient_list[1].segment: "vip" is not a segment id (a uuid)', 'a segment is named by its id');
select throws_ok(format($$insert into public.email_campaigns (subject, content, recipient_list)
    values ('Hi', 'Hello', '[{"segment": %s, "email": "a@example.test"}]')$$, to_json(:'vip'::text)),
  '23514', 'recipient_list[0]: unknown key "email"; a segment entry has only "segment"', 'a segment entry holds nothing else');
select throws_ok(format($$insert into public.email_campaigns (subject, content, recipient_list)
    values ('Hi', 'Hello', '[{"segment": %s}]')$$, to_json(gen_random_uuid()::text)),
  '23514', null, 'a missing segment is refused');

select lives_ok(format($$insert into public.email_campaigns (subject, content, recipient_list)
    values ('To segments', 'Hello', '[{"segment": %s}, {"segment": %s}, {"email": "LEAD4@example.test", "data": {"x": 1}}, "outside@example.test"]')$$,
    to_json(:'qualified'::text), to_json(:'vip'::text)),
  'alice''s own segments are accepted beside other entries');
select tests.clear_authentication();

-- ==== fan-out ====
select id as campaign from public.email_campaigns where subject = 'To segments' \gset
select is(private.fan_out_email_campaign(:'campaign'), 31, 'fan-out queues the 30 members of the two segments (5 in both) and the outside address');
select set_eq(
  format('select lead_id from public.email_deliveries where email_campaign_id = %L and lead_id is not null', :'campaign'),
  $$select id from public.leads where user_id = tests.get_user_id('alice') and (status = 'qualified' or 'vip' = any (tags))$$,
  'the deliveries linked to leads are exactly the members of the two segments');
select is(
  (select count(*) from public.email_deliveries where email_campaign_id = :'campaign' and lower(email) = 'lead4@example.test'),
  1::bigint, 'a lead both in a segment and listed by address gets one delivery');
select is(
  (select merge_data ->> 'x' from public.email_deliveries where email_campaign_id = :'campaign' and lower(email) = 'lead4@example.test'),
  '1', 'with the listed entry''s merge data');
select is_empty(
  format('select 1 from public.email_deliveries where email_campaign_id = %L and email = ''bob-lead@example.test''', :'campaign'),
  'no other owner''s lead is sent to');

select * from finish();
rollback;
