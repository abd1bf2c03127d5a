-- Saved segments (migration segments): owners keep their own (RLS, column privileges, the
-- predicate validated with its path), and segment_count and preview_segment select exactly
-- what a plain SQL evaluation of the same predicate selects on random data (lead fields,
-- events, email opens, clicks and bounces), never another owner's leads.
begin;
\ir _helpers.psql

select plan(29);

do $$ begin perform tests.create_user('alice'); perform tests.create_user('bob'); end; $$;
select setseed(0.42);

-- Random leads for alice (500) and bob (100): statuses, scores, tags and a plan field;
-- signup events for some of alice's, by lead id or by email.
set local beacon.trusted_score_write = 'on';
insert into public.leads (user_id, email, status, tags, custom_fields)
select tests.get_user_id(owner), format('%s%s@example.test', owner, n),
  (array['new', 'qualified', 'contacted', 'converted', 'lost'])[1 + floor(random() * 5)::int],
  -- (n + ...) keeps the sub-select per row, not evaluated once.
  array(select jsonb_array_elements_text('[[], ["vip"], ["b2b"], ["vip", "b2b"], ["churned"]]'::jsonb
    -> ((n + floor(random() * 5)::int) % 5))),
  case when random() < 0.5 then jsonb_build_object('plan', (array['pro', 'free', 'team'])[1 + floor(random() * 3)::int]) else '{}' end
from (values ('alice', 500), ('bob', 100)) as o (owner, total), generate_series(1, o.total) as n;
update public.leads set score = floor(random() * 200)::int - 50;
insert into public.analytics_events (user_id, event_type, event_name, properties, "timestamp")
select l.user_id, 'track', 'signup',
  case when random() < 0.5 then jsonb_build_object('lead_id', l.id) else jsonb_build_object('email', l.email) end,
  now() - make_interval(days => floor(random() * 60)::int)
from public.leads as l
where random() < 0.4;
set local beacon.trusted_score_write = '';

-- Email deliveries: three campaigns of alice's and one of bob's each reach about half their
-- owner's leads, with opens (some by machines only), clicks (some by link scanners only) and
-- bounces up to 60 days back. One more campaign of alice's reaches every address of hers as an
-- explicit recipient (no lead id), opened, clicked and bounced yesterday: no predicate counts it.
select tests.insert_row('email_campaigns', o.owner, jsonb_build_object('subject', o.subject))
from (values ('alice', 'Random'), ('alice', 'Random'), ('alice', 'Random'), ('bob', 'Random'),
             ('alice', 'Explicit')) as o (owner, subject);
with reached as (
  select l.user_id, c.id as campaign, l.id as lead, l.email,
    case when random() < 0.5 then now() - random() * interval '60 days' end as opened,
    random() < 0.7 as human_open,
    case when random() < 0.3 then now() - random() * interval '60 days' end as clicked,
    random() < 0.8 as human_click,
    case when random() < 0.15 then now() - random() * interval '60 days' end as bounced
  from public.leads as l
  join public.email_campaigns as c on c.user_id = l.user_id and c.subject = 'Random'
  where random() < 0.5
)
insert into public.email_deliveries (user_id, email_campaign_id, lead_id, email, status, sent_at, idempotency_key,
  opened_at, human_opened_at, clicked_at, human_clicked_at, bounced_at)
select r.user_id, r.campaign, r.lead, r.email, 'delivered', now() - interval '61 days', gen_random_uuid()::text,
  r.opened, case when r.human_open then r.opened end, r.clicked, case when r.human_click then r.clicked end, r.bounced
from reached as r;
insert into public.email_deliveries (user_id, email_campaign_id, lead_id, email, status, sent_at, idempotency_key,
  opened_at, human_opened_at, clicked_at, human_clicked_at, bounced_at)
select l.user_id, c.id, null, l.email, 'bounced', now() - interval '2 days', gen_random_uuid()::text,
  now() - interval '1 day', now() - interval '1 day', now() - interval '1 day', now() - interval '1 day', now() - interval '1 day'
from public.leads as l
join public.email_campaigns as c on c.user_id = l.user_id and c.subject = 'Explicit';

create table tests.cases (n serial, predicate jsonb, plain text);
grant select on tests.cases to authenticated;
insert into tests.cases (predicate, plain) values
  ('{}', 'true'),
  ('{"statuses": ["new", "qualified"]}', 'l.status in (''new'', ''qualified'')'),
  ('{"min_score": 0, "max_score": 50.0}', 'l.score between 0 and 50'),
  ('{"tags": {"any": ["vip"], "none": ["churned"]}}', '''vip'' = any (l.tags) and not ''churned'' = any (l.tags)'),
  ('{"custom_fields": [{"key": "plan", "op": "in", "value": ["pro", "team"]}]}', 'l.custom_fields ->> ''plan'' in (''pro'', ''team'')'),
  ('{"events": [{"event_name": "signup", "within_days": 30}]}',
   'exists (select from public.analytics_events as e where e.user_id = l.user_id and e.event_name = ''signup''
      and e."timestamp" >= now() - interval ''30 days'' and (e.properties ->> ''lead_id'' = l.id::text or e.properties ->> ''email'' = l.email))'),
  ('{"events": [{"event_name": "signup", "within_days": 30, "absent": true}], "statuses": ["lost"]}',
   'l.status = ''lost'' and not exists (select from public.analytics_events as e where e.user_id = l.user_id and e.event_name = ''signup''
      and e."timestamp" >= now() - interval ''30 days'' and (e.properties ->> ''lead_id'' = l.id::text or e.properties ->> ''email'' = l.email))'),
  ('{"emails": [{"action": "opened", "within_days": 14}]}',
   'exists (select from public.email_deliveries as d where d.user_id = l.user_id and d.lead_id = l.id
      and d.human_opened_at >= now() - interval ''14 days'')'),
  ('{"emails": [{"action": "clicked", "within_days": 30}]}',
   'exists (select from public.email_deliveries as d where d.user_id = l.user_id and d.lead_id = l.id
      and d.human_clicked_at >= now() - interval ''30 days'')'),
  ('{"emails": [{"action": "bounced", "within_days": 45}]}',
   'exists (select from public.email_deliveries as d where d.user_id = l.user_id and d.lead_id = l.id
      and d.bounced_at >= now() - interval ''45 days'')'),
  ('{"emails": [{"action": "opened", "within_days": 30, "absent": true}, {"action": "clicked", "within_days": 60}],
     "statuses": ["new", "qualified"]}',
   'l.status in (''new'', ''qualified'')
    and not exists (select from public.email_deliveries as d where d.user_id = l.user_id and d.lead_id = l.id
      and d.human_opened_at >= now() - interval ''30 days'')
    and exists (select from public.email_deliveries as d where d.user_id = l.user_id and d.lead_id = l.id
      and d.human_clicked_at >= now() - interval ''60 days'')'),
  ('{"emails": [{"action": "bounced", "within_days": 60, "absent": true}], "tags": {"any": ["vip"]}}',
   '''vip'' = any (l.tags) and not exists (select from public.email_deliveries as d where d.user_id = l.user_id
      and d.lead_id = l.id and d.bounced_at >= now() - interval ''60 days'')');

create function tests.plain_count(plain text)
returns bigint
language plpgsql
as $$
declare
  total bigint;
begin
  execute format('select count(*) from public.leads as l where l.user_id = auth.uid() and %s', plain) into total;
  return total;
end;
$$;

-- ==== acting as alice ====
select tests.authenticate_as('alice');
insert into public.segments (name, predicate) select 'case ' || n, predicate from tests.cases;


select is(public.segment_count(s.id), tests.plain_count(c.plain), format('segment_count equals plain SQL: %s', c.predicate))
from tests.cases as c join public.segments as s on s.name = 'case ' || c.n
order by c.n;
select ok(bool_and(tests.plain_count(c.plain) between 1 and 499),
  'each email activity case selects some of alice''s leads, not all: the comparisons above can tell')
from tests.cases as c where c.predicate ? 'emails';
select ok(tests.plain_count('true') = 500 and public.segment_count((select id from public.segments where name = 'case 1')) = 500,
  'the empty predicate counts all of alice''s 500 leads and none of bob''s');

select is(
  (select array_agg(p.id order by p.created_at desc, p.id) from public.preview_segment('{"tags": {"all": ["vip", "b2b"]}}', 1000) as p),
  (select array_agg(l.id order by l.created_at desc, l.id) from public.leads as l where l.tags @> array['vip', 'b2b']),
  'preview_segment lists the leads of an unsaved predicate, newest first');
select is((select count(*) from public.preview_segment('{}')), 20::bigint, 'preview_segment shows 20 leads by default');
select throws_ok($$select * from public.preview_segment('{"tags": {"any": []}}')$$, '22023',
  'preview_segment: predicate.tags.any: expected a non-empty list of tags, not []', 'a bad predicate is refused, naming its path');
select throws_ok($$select * from public.preview_segment('{}', 1001)$$, '22023',
  'preview_segment: limit must be between 1 and 1000, not 1001', 'the preview''s size is bounded');

select throws_ok($$insert into public.segments (name, predicate) values ('bad', '{"emails": [{"action": "read", "within_days": 3}]}')$$,
  '23514', 'predicate.emails[0].action: expected one of opened, clicked, bounced, not "read"', 'a segment''s predicate is validated, naming its path');
select throws_ok($$update public.segments set predicate = '{"min_score": 2.5}' where name = 'case 1'$$,
  '23514', 'predicate.min_score: expected a whole number from -100000 to 100000, not 2.5', 'and again on update');
select throws_ok($$insert into public.segments (name) values (' ')$$, '23514', null, 'a segment needs a name');
select throws_ok($$insert into public.segments (name) values ('case 1')$$, '23505', null, 'segment names are unique per owner');
select throws_ok($$insert into public.segments (name, user_id) values ('mine?', gen_random_uuid())$$, '42501', null,
  'the owner is not a column clients write');
select throws_ok($$update public.segments set created_at = now()$$, '42501', null, 'nor are the times');

select id as alice_segment from public.segments where name = 'case 1' \gset

-- ==== acting as bob ====
select tests.authenticate_as('bob');
select is_empty($$select id from public.segments$$, 'bob sees none of alice''s segments');
select throws_ok(format('select public.segment_count(%L)', :'alice_segment'),
  'P0002', format('segment_count: no segment %s among yours', :'alice_segment'),
  'bob cannot count alice''s segment: it is not among his');
select is((select count(*) from public.preview_segment('{}', 1000)), 100::bigint, 'bob''s preview holds only his 100 leads');

-- ==== anon ====
select tests.authenticate_as_anon();
select throws_ok($$select public.segment_count(gen_random_uuid())$$, '42501', null, 'anon may not count segments');
select throws_ok($$select * from public.segments$$, '42501', null, 'anon may not read segments');

select * from finish();
rollback;
