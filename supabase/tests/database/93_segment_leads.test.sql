-- A segment's members (migration segment_leads): segment_leads returns exactly the leads
-- segment_count counts and a plain SQL evaluation selects, never another owner's; a segment
-- that is not the caller's is refused by name; anon may not call it.
begin;
\ir _helpers.psql

select plan(6);

do $$ begin perform tests.create_user('alice'); perform tests.create_user('bob'); end; $$;
select setseed(0.17);

insert into public.leads (user_id, email, status, tags)
select tests.get_user_id(owner), format('%s%s@example.test', owner, n),
  (array['new', 'qualified', 'lost'])[1 + floor(random() * 3)::int],
  case when random() < 0.5 then '{vip}' else '{}' end::text[]
from (values ('alice', 200), ('bob', 50)) as o (owner, total), generate_series(1, o.total) as n;
insert into public.analytics_events (user_id, event_type, event_name, properties, "timestamp")
select l.user_id, 'track', 'signup', jsonb_build_object('email', upper(l.email)), now() - interval '1 day'
from public.leads as l
where random() < 0.3;

-- ==== acting as alice ====
select tests.authenticate_as('alice');
insert into public.segments (name, predicate)
values ('vip signups', '{"tags": {"any": ["vip"]}, "events": [{"event_name": "signup", "within_days": 7}]}');
select id as segment from public.segments where name = 'vip signups' \gset

select is(
  (select array_agg(m.id order by m.id) from public.segment_leads(:'segment') as m),
  (select array_agg(l.id order by l.id) from public.leads as l
   where 'vip' = any (l.tags)
     and exists (select from public.analytics_events as e
                 where e.user_id = l.user_id and lower(e.properties ->> 'email') = lower(l.email))),
  'segment_leads returns the leads a plain SQL evaluation selects');
select is((select count(*) from public.segment_leads(:'segment')), public.segment_count(:'segment'),
  'and as many as segment_count counts');
select ok((select count(*) from public.segment_leads(:'segment')) between 1 and 199,
  'the random data puts some of alice''s leads in the segment, not all');
select throws_ok(format('select * from public.segment_leads(%L)', gen_random_uuid()), 'P0002', null,
  'an unknown segment is refused');

-- ==== acting as bob ====
select tests.authenticate_as('bob');
select throws_ok(format('select * from public.segment_leads(%L)', :'segment'),
  'P0002', format('segment_leads: no segment %s among yours', :'segment'),
  'bob cannot list alice''s segment: it is not among his');

-- ==== anon ====
select tests.authenticate_as_anon();
select throws_ok(format('select * from public.segment_leads(%L)', :'segment'), '42501', null,
  'anon may not list segments');

select * from finish();
rollback;
