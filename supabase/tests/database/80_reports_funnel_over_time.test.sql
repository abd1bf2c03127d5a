-- report_funnel over time: with an interval, each stage's reaches (new at a lead's creation,
-- the others at its first lead_status_history row into them before to) per bucket, and the
-- rates as they stood at each bucket's end; the buckets add up to the whole range's answer,
-- which the two-argument call still gives (one row per stage, bucket = from_time). Another
-- owner's leads and history never count; a bad interval is an error that says so.
begin;
\ir _helpers.psql

select plan(17);

-- UTC, in March 2026 (the 2nd and the 9th are Mondays): the range is [2 March, 16 March).
do $$
declare
  alice uuid := tests.create_user('alice');
  mallory uuid := tests.create_user('mallory');
begin
  perform tests.create_user('eve');
  insert into public.leads (user_id, email, created_at) values
    (alice, 'l1@x.test', '2026-03-02 10:00+00'), (alice, 'l2@x.test', '2026-03-03 09:00+00'),
    (alice, 'l3@x.test', '2026-03-10 08:00+00'), (alice, 'l4@x.test', '2026-03-11 08:00+00'),
    (alice, 'early@x.test', '2026-02-20 08:00+00'),
    (mallory, 'm1@x.test', '2026-03-02 11:00+00');
  insert into public.lead_status_history (user_id, lead_id, from_status, to_status, reason, changed_at)
  select l.user_id, l.id, m.from_status, m.to_status, 'system', m.at::timestamptz
  from (values
    ('l1@x.test', 'new', 'contacted', '2026-03-03 12:00+00'),
    ('l1@x.test', 'contacted', 'qualified', '2026-03-10 12:00+00'),
    ('l1@x.test', 'qualified', 'converted', '2026-03-11 12:00+00'),
    ('l2@x.test', 'new', 'contacted', '2026-03-04 12:00+00'),
    ('l2@x.test', 'contacted', 'lost', '2026-03-12 12:00+00'),
    ('l3@x.test', 'new', 'contacted', '2026-03-10 12:00+00'),
    ('l3@x.test', 'contacted', 'qualified', '2026-03-11 13:00+00'),
    -- back to contacted: the stage was reached once, at its first row
    ('l3@x.test', 'qualified', 'contacted', '2026-03-12 13:00+00'),
    -- after the range
    ('l4@x.test', 'new', 'contacted', '2026-03-20 12:00+00'),
    -- a lead gained before the range is not in its funnel
    ('early@x.test', 'new', 'contacted', '2026-03-03 12:00+00'),
    ('m1@x.test', 'new', 'contacted', '2026-03-03 12:00+00'),
    ('m1@x.test', 'contacted', 'converted', '2026-03-04 12:00+00')
  ) as m (email, from_status, to_status, at)
  join public.leads as l on l.email = m.email;
end;
$$;

select tests.authenticate_as('alice');
select results_eq(
  $$select bucket, stage, leads, rate_from_previous
    from public.report_funnel('2026-03-02 00:00+00', '2026-03-16 00:00+00', 'week')$$,
  $$values ('2026-03-02 00:00+00'::timestamptz, 'new'::text, 2::bigint, null::numeric),
           ('2026-03-02 00:00+00', 'contacted', 2, 1.0000), ('2026-03-02 00:00+00', 'qualified', 0, 0.0000),
           ('2026-03-02 00:00+00', 'converted', 0, null), ('2026-03-02 00:00+00', 'lost', 0, 0.0000),
           ('2026-03-09 00:00+00', 'new', 2, null), ('2026-03-09 00:00+00', 'contacted', 1, 0.7500),
           ('2026-03-09 00:00+00', 'qualified', 2, 0.6667), ('2026-03-09 00:00+00', 'converted', 1, 0.5000),
           ('2026-03-09 00:00+00', 'lost', 1, 0.2500)$$,
  'weekly: each stage''s reaches in the week, the rates as they stood at its end (3 of 4 contacted by the 16th, 2 of those 3 qualified, ...)');
select results_eq(
  $$select bucket, stage, stage_order, leads, rate_from_previous
    from public.report_funnel('2026-03-02 00:00+00', '2026-03-16 00:00+00')$$,
  $$values ('2026-03-02 00:00+00'::timestamptz, 'new'::text, 1, 4::bigint, null::numeric),
           ('2026-03-02 00:00+00', 'contacted', 2, 3, 0.7500), ('2026-03-02 00:00+00', 'qualified', 3, 2, 0.6667),
           ('2026-03-02 00:00+00', 'converted', 4, 1, 0.5000), ('2026-03-02 00:00+00', 'lost', 5, 1, 0.2500)$$,
  'without an interval: one row per stage over the whole range, as before, bucket = from_time');
select results_eq(
  $$select stage, sum(leads)::bigint
    from public.report_funnel('2026-03-02 00:00+00', '2026-03-16 00:00+00', 'day') group by stage, stage_order order by stage_order$$,
  $$select stage, leads from public.report_funnel('2026-03-02 00:00+00', '2026-03-16 00:00+00')$$,
  'the daily buckets add up to the whole range');
select results_eq(
  $$select stage, sum(leads)::bigint
    from public.report_funnel('2026-03-02 00:00+00', '2026-03-16 00:00+00', 'hour') group by stage, stage_order order by stage_order$$,
  $$select stage, leads from public.report_funnel('2026-03-02 00:00+00', '2026-03-16 00:00+00')$$,
  'and so do the hourly ones');
select results_eq(
  $$select distinct bucket from public.report_funnel('2026-03-02 00:00+00', '2026-03-16 00:00+00', 'day') order by 1$$,
  $$values ('2026-03-02 00:00+00'::timestamptz), ('2026-03-03 00:00+00'), ('2026-03-04 00:00+00'),
           ('2026-03-10 00:00+00'), ('2026-03-11 00:00+00'), ('2026-03-12 00:00+00')$$,
  'only the days something happened (the 20th is after the range)');
select results_eq(
  $$select stage, leads from public.report_funnel('2026-03-02 00:00+00', '2026-03-16 00:00+00', 'day')
    where bucket = '2026-03-10 00:00+00'$$,
  $$values ('new'::text, 1::bigint), ('contacted', 1), ('qualified', 1), ('converted', 0), ('lost', 0)$$,
  'the 10th: l3 gained and contacted, l1 qualified; every stage has its row');
select results_eq(
  $$select bucket, stage, leads, rate_from_previous
    from public.report_funnel('2026-03-02 00:00+00', '2026-03-16 00:00+00', 'month')$$,
  $$select '2026-03-01 00:00+00'::timestamptz, stage, leads, rate_from_previous
    from public.report_funnel('2026-03-02 00:00+00', '2026-03-16 00:00+00')$$,
  'monthly: one bucket, starting on the 1st, the same figures as the whole range');
select results_eq(
  $$select * from public.report_funnel(from_time => '2026-03-02 00:00+00', to_time => '2026-03-16 00:00+00', "interval" => null)$$,
  $$select * from public.report_funnel('2026-03-02 00:00+00', '2026-03-16 00:00+00')$$,
  'by name, as PostgREST calls it, a null interval is the two-argument call');
select throws_ok(
  $$select * from public.report_funnel('2026-03-02 00:00+00', '2026-03-16 00:00+00', 'fortnight')$$, '22023',
  'report_funnel: interval must be one of hour, day, week, month (or null for the whole range), not ''fortnight''',
  'an unknown interval is refused, naming the choices');
select throws_ok(
  $$select * from public.report_funnel('2026-03-16 00:00+00', '2026-03-02 00:00+00', 'week')$$, '22023',
  'report_funnel: from_time and to_time are required and from_time must be before to_time',
  'a reversed range is refused with an interval too');

select tests.authenticate_as('mallory');
select results_eq(
  $$select bucket, stage, leads, rate_from_previous
    from public.report_funnel('2026-03-02 00:00+00', '2026-03-16 00:00+00', 'week')$$,
  $$values ('2026-03-02 00:00+00'::timestamptz, 'new'::text, 1::bigint, null::numeric),
           ('2026-03-02 00:00+00', 'contacted', 1, 1.0000), ('2026-03-02 00:00+00', 'qualified', 0, 0.0000),
           ('2026-03-02 00:00+00', 'converted', 1, null), ('2026-03-02 00:00+00', 'lost', 0, 0.0000)$$,
  'mallory: her lead and its history only, none of alice''s');

select tests.authenticate_as('eve');
select is_empty(
  $$select * from public.report_funnel('-infinity', 'infinity', 'week')$$,
  'eve, who has no leads: no buckets, over an unbounded range too');
select results_eq(
  $$select count(*)::int, sum(leads)::int from public.report_funnel('-infinity', 'infinity')$$,
  $$values (5, 0)$$,
  'and without an interval her funnel is its five stages at zero, as before');

select tests.authenticate_as_anon();
select throws_ok($$select * from public.report_funnel('-infinity', 'infinity', 'week')$$, '42501', null,
  'anon may not call report_funnel with an interval');

select tests.clear_authentication();
select is(
  (select array_agg(p.oid::regprocedure::text) from pg_proc as p
   where p.pronamespace = 'public'::regnamespace and p.proname = 'report_funnel'),
  array['report_funnel(timestamp with time zone,timestamp with time zone,text)'],
  'one report_funnel (no overload for PostgREST to choose between)');
select is(
  (select prosecdef from pg_proc where oid = 'public.report_funnel(timestamptz, timestamptz, text)'::regprocedure),
  false, 'security invoker: the caller''s RLS applies');
select is(
  (select array_agg(a) from unnest((select proargnames from pg_proc
     where oid = 'public.report_funnel(timestamptz, timestamptz, text)'::regprocedure)) as a),
  array['from_time', 'to_time', 'interval', 'stage', 'stage_order', 'leads', 'rate_from_previous', 'bucket']::text[],
  'the earlier columns keep their names and order; bucket comes last');

select * from finish();
rollback;
