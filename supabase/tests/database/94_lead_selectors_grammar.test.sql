-- Lead selectors speak the lead grammar (migration lead_selector_grammar): a recipient_list's
-- {"leads": {"ids", "tags", "statuses", "min_score"}} is translated into lead conditions
-- (private.lead_selector_conditions), checked by the grammar's validator at the selector's own
-- path and compiled by the grammar's compiler. On random data, every random selector resolves
-- to exactly the leads a plain SQL evaluation of its meaning selects, and to the same
-- recipients as a saved segment with the equivalent predicate; a bad selector is refused naming
-- its field.
begin;
\ir _helpers.psql

select plan(16);

do $$ begin perform tests.create_user('alice'); perform tests.create_user('bob'); end; $$;
update private.email_queue set paused = true where not paused;
select setseed(0.17);

-- Random leads for alice (400) and bob (50): statuses, scores, tags (one in ten of alice's
-- carry the tag "", which the grammar cannot name), a few not subscribed.
set local beacon.trusted_score_write = 'on';
insert into public.leads (user_id, email, status, tags, subscription_status)
select tests.get_user_id(owner), format('%s%s@example.test', owner, n),
  (array['new', 'qualified', 'contacted', 'converted', 'lost'])[1 + floor(random() * 5)::int],
  -- (n + ...) keeps the sub-select per row, not evaluated once.
  array(select jsonb_array_elements_text('[[], ["vip"], ["b2b"], ["vip", "b2b"], ["churned"], ["", "vip"]]'::jsonb
    -> ((n + floor(random() * 6)::int) % 6))),
  case when random() < 0.1 then 'unsubscribed' else 'subscribed' end
from (values ('alice', 400), ('bob', 50)) as o (owner, total), generate_series(1, o.total) as n;
update public.leads set score = floor(random() * 200)::int - 50;
set local beacon.trusted_score_write = '';

-- 60 random selectors: each criterion present half the time, lists possibly empty; ids drawn
-- from alice's leads and bob's.
create table tests.selectors as
select n, jsonb_strip_nulls(jsonb_build_object(
    'ids', case when random() < 0.3 then (
      select coalesce(jsonb_agg(l.id), '[]') from public.leads as l where random() < 0.05 + 0 * n) end,
    'tags', case when random() < 0.5 then (
      select coalesce(jsonb_agg(t), '[]') from unnest(array['vip', 'b2b', 'churned', 'nobody']) as t
      where random() < 0.4 + 0 * n) end,
    'statuses', case when random() < 0.5 then (
      select coalesce(jsonb_agg(s), '[]') from unnest(array['new', 'qualified', 'contacted', 'converted', 'lost']) as s
      where random() < 0.5 + 0 * n) end,
    'min_score', case when random() < 0.5 then to_jsonb(floor(random() * 220)::int - 60) end)) as selector
from generate_series(1, 60) as n;

-- The plain meaning of a selector, written out: criteria AND, tags any of them, an empty list
-- selects no one; alice's subscribed leads.
create function tests.plain(selector jsonb)
returns text[]
language sql
as $$
  select coalesce(array_agg(l.email order by l.email), '{}')
  from public.leads as l
  where l.user_id = tests.get_user_id('alice')
    and l.subscription_status = 'subscribed'
    and (not selector ? 'ids' or l.id::text in (select jsonb_array_elements_text(selector -> 'ids')))
    and (not selector ? 'tags' or exists (
      select from jsonb_array_elements_text(selector -> 'tags') as t where t = any (l.tags)))
    and (not selector ? 'statuses' or l.status in (select jsonb_array_elements_text(selector -> 'statuses')))
    and (not selector ? 'min_score' or l.score >= (selector ->> 'min_score')::int)
$$;

create function tests.resolved(list jsonb)
returns text[]
language sql
as $$
  select coalesce(array_agg(r.email order by r.email), '{}')
  from private.resolve_email_recipients(tests.get_user_id('alice'), list) as r
$$;

-- The same selectors as saved segments, in the grammar, written here (not by the translation):
-- those without ids or empty lists, which the grammar has no words for.
insert into public.segments (user_id, name, predicate)
select tests.get_user_id('alice'), 'selector ' || s.n,
  (s.selector - 'tags')
    || case when s.selector ? 'tags' then jsonb_build_object('tags', jsonb_build_object('any', s.selector -> 'tags'))
            else '{}' end
from tests.selectors as s
where not s.selector ? 'ids'
  and coalesce(s.selector -> 'tags', 'null') <> '[]' and coalesce(s.selector -> 'statuses', 'null') <> '[]';

select is(
  (select count(*)::integer from tests.selectors as s
   where private.recipient_list_problem(jsonb_build_array(jsonb_build_object('leads', s.selector))) is not null),
  0, 'every random selector is accepted');
select is(
  (select string_agg(s.selector::text, E'\n')
   from tests.selectors as s
   where tests.resolved(jsonb_build_array(jsonb_build_object('leads', s.selector))) <> tests.plain(s.selector)),
  null, 'every random selector resolves to exactly the leads its plain meaning selects');
select is(
  (select string_agg(s.selector::text, E'\n')
   from tests.selectors as s
   join public.segments as g on g.name = 'selector ' || s.n
   where tests.resolved(jsonb_build_array(jsonb_build_object('leads', s.selector)))
         <> tests.resolved(jsonb_build_array(jsonb_build_object('segment', g.id)))),
  null, 'and to the same recipients as a saved segment with the equivalent predicate');
select ok(
  (select count(*) from public.segments where name like 'selector %') >= 20
  and (select count(*) from tests.selectors as s where cardinality(tests.plain(s.selector)) = 0) >= 5
  and (select count(*) from tests.selectors as s where cardinality(tests.plain(s.selector)) > 50) >= 5
  and (select count(*) from tests.selectors as s where s.selector -> 'ids' <> '[]') >= 5,
  'not vacuous: selectors with segments, with ids, selecting no one and selecting many');
select is(
  tests.resolved((select jsonb_agg(jsonb_build_object('leads', s.selector)) from tests.selectors as s where s.n <= 6)),
  (select array(select distinct e from tests.selectors as s, unnest(tests.plain(s.selector)) as e where s.n <= 6 order by e)),
  'several selectors in one list: entries OR together');

-- The translation.
select is(
  (select row(t.conditions, t.ids)::text
   from private.lead_selector_conditions(
     '{"ids": ["0B9AE1F2-7D1A-4C53-9A43-2A6A3E0D3C11"], "tags": ["vip", "b2b"], "statuses": ["new"], "min_score": 5.0}') as t),
  row('{"tags": {"any": ["vip", "b2b"]}, "statuses": ["new"], "min_score": 5.0}'::jsonb,
      '{0b9ae1f2-7d1a-4c53-9a43-2a6a3e0d3c11}'::uuid[])::text,
  'a selector translates into lead conditions (tags any of them), its ids beside them');
select is(
  (select array_agg(row(t.conditions, t.ids)::text order by s.n)
   from (values (1, '{}'::jsonb), (2, '{"tags": [], "min_score": 1}'), (3, '{"statuses": []}'), (4, '{"ids": []}'))
     as s (n, selector)
   cross join lateral private.lead_selector_conditions(s.selector) as t),
  array[row('{}'::jsonb, null::uuid[])::text, row('{"min_score": 1}'::jsonb, '{}'::uuid[])::text,
        row('{}'::jsonb, '{}'::uuid[])::text, row('{}'::jsonb, '{}'::uuid[])::text],
  'every lead for {}; no lead (no ids) for an empty list');
select is(
  tests.resolved('[{"leads": {"tags": [""]}}]'),
  (select array_agg(l.email order by l.email) from public.leads as l
   where l.user_id = tests.get_user_id('alice') and '' = any (l.tags) and l.subscription_status = 'subscribed'),
  'a tag the grammar cannot name (""), accepted as before, still selects the leads carrying it');

-- Bad selectors: the grammar's validator, at the selector's path.
select is(
  private.recipient_list_problem('["ada@example.test", {"leads": {"tags": ["vip"], "statuses": ["new", "won"]}}]'),
  private.lead_conditions_problem('recipient_list[1].leads', '{"statuses": ["new", "won"]}'),
  'a bad status is the grammar validator''s own message');
select is(
  private.recipient_list_problem('["ada@example.test", {"leads": {"tags": ["vip"], "statuses": ["new", "won"]}}]'),
  'recipient_list[1].leads.statuses[1]: "won" is not a lead status (new, qualified, contacted, converted, lost)',
  'naming the selector''s field');

select tests.authenticate_as('alice');
select throws_ok(
  $$insert into public.email_campaigns (subject, content, recipient_list)
    values ('Hi', 'Hello', '[{"leads": {}}, {"leads": {"statuses": [], "min_score": 12.5}}]')$$,
  '23514', 'recipient_list[1].leads.min_score: expected a whole number from -100000 to 100000, not 12.5',
  'a bad min_score is refused on save, naming recipient_list[1].leads.min_score');
select throws_ok(
  $$insert into public.email_campaigns (subject, content, recipient_list)
    values ('Hi', 'Hello', '[{"leads": {"tags": ["vip", {"any": ["b2b"]}]}}]')$$,
  '23514', 'recipient_list[0].leads.tags[1]: expected a tag (a string), not {"any": ["b2b"]}',
  'a selector keeps its own syntax (tags is a list of strings), naming recipient_list[0].leads.tags[1]');
select throws_ok(
  $$insert into public.email_campaigns (subject, content, recipient_list)
    values ('Hi', 'Hello', '[{"leads": {"tags": {"any": ["vip"]}}}]')$$,
  '23514', 'recipient_list[0].leads.tags: expected an array of tags, not {"any": ["vip"]}',
  'the grammar''s form of tags is not a selector''s');
select tests.clear_authentication();

-- Through fan-out: a campaign of random selectors and one of the equivalent segments send to
-- the same addresses.
insert into public.email_campaigns (user_id, subject, content, recipient_list)
select tests.get_user_id('alice'), c.subject, 'Hello', c.list
from (
  select 'selectors' as subject, jsonb_agg(jsonb_build_object('leads', s.selector)) as list
  from tests.selectors as s join public.segments as g on g.name = 'selector ' || s.n
  where s.n <= 30
  union all
  select 'segments', jsonb_agg(jsonb_build_object('segment', g.id))
  from tests.selectors as s join public.segments as g on g.name = 'selector ' || s.n
  where s.n <= 30
) as c;
select ok(
  (select bool_and(private.fan_out_email_campaign(c.id) > 0)
   from public.email_campaigns as c where c.user_id = tests.get_user_id('alice')),
  'both campaigns fan out');
select is(
  (select array_agg(d.email order by d.email) from public.email_deliveries as d
   join public.email_campaigns as c on c.id = d.email_campaign_id where c.subject = 'selectors'),
  (select array_agg(d.email order by d.email) from public.email_deliveries as d
   join public.email_campaigns as c on c.id = d.email_campaign_id where c.subject = 'segments'),
  'fan-out sends selectors and their equivalent segments to the same addresses');
select ok(
  (select count(*) from public.email_deliveries as d
   join public.email_campaigns as c on c.id = d.email_campaign_id where c.subject = 'selectors') > 100,
  'and to many of them');

select * from finish();
rollback;
