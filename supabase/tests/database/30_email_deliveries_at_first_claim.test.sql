-- Deliveries written at a chunk's first claim (migration email_deliveries_at_first_claim): a
-- campaign of more than private.email_deliveries_at_fan_out_max() recipients fans out into
-- chunks holding their recipients, and each chunk writes its deliveries when first claimed,
-- once, with the ids, data and keys fan-out fixed. Suppressed recipients are written at
-- fan-out; addresses suppressed later are skipped at the claim; the queue, the metrics,
-- cancelling and erasing see the recipients of chunks not claimed yet; small campaigns write
-- every delivery at fan-out.
begin;
\ir _helpers.psql

select plan(26);

do $$
begin
  perform tests.create_user('alice');
end;
$$;

-- alice: 1,250 leads tagged "all" (lead0001..lead1250) with a company; two suppressed.
insert into public.leads (user_id, email, first_name, company, tags)
select tests.get_user_id('alice'), format('lead%s@example.test', lpad(n::text, 4, '0')), 'Lead ' || n, 'Acme', '{all}'
from generate_series(1, 1250) as n;
insert into public.email_suppressions (user_id, email, reason)
select tests.get_user_id('alice'), format('lead%s@example.test', n), 'unsubscribed'
from unnest(array['0007', '1000']) as n;

create table tests.campaigns as
select c.name, tests.insert_row('email_campaigns', 'alice', c.fields) as id
from (values
  ('big', '{"recipient_list": [{"leads": {"tags": ["all"]}}, {"email": "aaa-extra@example.test", "first_name": "Extra", "data": {"plan": "gold"}}],
            "status": "scheduled", "send_at": "2020-01-01T00:00:00Z"}'::jsonb),
  ('small', '{"recipient_list": ["lead0001@example.test", "lead0002@example.test"], "status": "scheduled", "send_at": "2020-01-01T00:00:00Z"}')
) as c (name, fields);

create function tests.campaign(wanted text)
returns uuid
language sql
as $$
  select id from tests.campaigns where name = wanted
$$;

select is(private.email_deliveries_at_fan_out_max(), 1000, 'campaigns of up to 1,000 recipients write their deliveries at fan-out');

select private.email_tick();

-- After fan-out ------------------------------------------------------------------------------
select results_eq(
  $$select status, count(*)::integer from public.email_deliveries where email_campaign_id = tests.campaign('big')
    group by status order by status$$,
  $$values ('suppressed', 2)$$,
  'a large campaign writes only its suppressed recipients at fan-out'
);
select results_eq(
  $$select count(*)::integer, sum(jsonb_array_length(payload -> 'recipients' -> 'id'))::integer,
           bool_and(payload -> 'members' = payload -> 'recipients' -> 'id')
    from private.jobs where kind = 'email' and subject_id = tests.campaign('big')$$,
  $$values (13, 1249, true)$$,
  'its 1,249 sendable recipients are in 13 chunks, each holding its members'' recipients'
);
select is(
  (select count(*)::integer from private.email_queue where email_campaign_id = tests.campaign('big')),
  1249, 'the queue shows every recipient of a chunk not claimed yet'
);
select is(
  private.email_campaign_metrics(tests.campaign('big')) -> 'recipients', '1251',
  'the metrics count the recipients of chunks not claimed yet'
);
select is(
  (select metrics -> 'recipients' from public.email_campaigns where id = tests.campaign('big')), '1251',
  'the tick that started it has counted them into the campaign''s metrics'
);
select results_eq(
  $$select count(*)::integer, bool_and(d.status = 'queued'), bool_and(not j.payload ? 'recipients')
    from public.email_deliveries as d, private.jobs as j
    where d.email_campaign_id = tests.campaign('small') and j.subject_id = tests.campaign('small')$$,
  $$values (2, true, true)$$,
  'a small campaign writes every delivery at fan-out'
);

-- A privacy export lists what the chunks hold about the lead, to its owner only.
do $$
begin
  perform tests.create_user('bob');
  -- tests.campaigns is not the signed-in owner's to read.
  perform set_config('tests.big', tests.campaign('big')::text, true);
end;
$$;
select tests.authenticate_as('alice');
select is(
  (select jsonb_path_query_array(public.export_lead_data(l.id) -> 'email_deliveries', '$[*].status')
   from public.leads as l where l.email = 'lead0001@example.test'),
  '["queued", "queued"]',
  'export_lead_data lists the small campaign''s written delivery and the big one''s unclaimed chunk'
);
select is(
  (select count(*)::integer from reporting.pending_email_deliveries('lead0003@example.test')
   where email_campaign_id = current_setting('tests.big')::uuid),
  1, 'its owner reads the unclaimed chunk''s recipient'
);
select tests.authenticate_as('bob');
select is(
  (select count(*)::integer from reporting.pending_email_deliveries('lead0003@example.test')),
  0, 'another owner reads nothing of it'
);
select tests.clear_authentication();

-- Changes before the first claim: a lead deleted, an address suppressed, a lead erased.
delete from public.leads where email = 'lead0002@example.test' and user_id = tests.get_user_id('alice');
insert into public.email_suppressions (user_id, email, reason)
values (tests.get_user_id('alice'), 'lead0003@example.test', 'manual');
set local role authenticated;
select tests.authenticate_as('alice');
select public.erase_lead((select id from public.leads where email = 'lead0004@example.test'));
reset role;

select is(
  (select count(*)::integer from private.jobs
   where kind = 'email' and subject_id = tests.campaign('big')
     and payload -> 'recipients' -> 'email' ? 'lead0004@example.test'),
  0, 'an erased lead''s address leaves every chunk not claimed yet'
);
select is(
  (select count(*)::integer from public.email_deliveries where email = 'lead0004@example.test'),
  0, 'and has no delivery'
);

-- The first claim ----------------------------------------------------------------------------
create table tests.claims (n integer, delivery_id uuid, chunk_key text, idempotency_key text, email text,
                           first_name text, merge_data jsonb);
insert into tests.claims
select 1, c.delivery_id, c.chunk_key, c.idempotency_key, c.email, c.first_name, c.merge_data
from private.claim_email_batch('w1', 1) as c;

select results_eq(
  $$select count(*)::integer, count(distinct chunk_key)::integer from tests.claims where n = 1$$,
  $$values (98, 1)$$,
  'the first chunk is claimed: its 100 members less the erased lead and the address suppressed since'
);
select results_eq(
  $$select d.status, count(*)::integer from public.email_deliveries as d
    where d.email_campaign_id = tests.campaign('big') group by d.status order by d.status$$,
  $$values ('queued', 98), ('suppressed', 3)$$,
  'the first chunk''s deliveries are written (by the erasure, which needed them): the address suppressed since is recorded as suppressed'
);
select is(
  (select array_agg(c.delivery_id order by c.delivery_id) from tests.claims as c where n = 1),
  (select array_agg(d.id order by d.id) from public.email_deliveries as d
   where d.email_campaign_id = tests.campaign('big') and d.status = 'queued'),
  'what is sent is the deliveries written'
);
select is(
  (select row(c.first_name, c.merge_data)::text from tests.claims as c where c.email = 'aaa-extra@example.test'),
  '(Extra,"{""plan"": ""gold""}")', 'an explicit recipient keeps its own data'
);
select is(
  (select row(c.first_name, c.merge_data)::text from tests.claims as c where c.email = 'lead0001@example.test'),
  '("Lead 1","{""company"": ""Acme""}")', 'a lead recipient has its lead''s data'
);
select is(
  (select row(lead_id is null, status)::text from public.email_deliveries
   where email_campaign_id = tests.campaign('big') and email = 'lead0002@example.test'),
  '(t,queued)', 'a lead deleted since fan-out is still sent to, its delivery unlinked (as the foreign key does)'
);
select is(
  (select bool_and(c.idempotency_key = c.delivery_id::text) from tests.claims as c),
  true, 'each delivery''s key is its id, drawn at fan-out'
);
select is(
  (select count(*)::integer from private.jobs
   where kind = 'email' and subject_id = tests.campaign('big') and payload ? 'recipients'),
  12, 'the claimed chunk no longer holds its recipients; the others still do'
);
select is(
  private.write_email_chunk_deliveries(array(
    select job_id from private.email_queue where email_campaign_id = tests.campaign('big') and leased_by = 'w1')),
  0, 'a chunk''s deliveries are written once'
);

-- A re-claim ---------------------------------------------------------------------------------
update private.email_queue set lease_until = now() - interval '1 second' where leased_by = 'w1';
insert into tests.claims
select 2, c.delivery_id, c.chunk_key, c.idempotency_key, c.email, c.first_name, c.merge_data
from private.claim_email_batch('w2', 1) as c;

select is(
  (select array_agg(row(delivery_id, chunk_key)::text order by delivery_id) from tests.claims where n = 2),
  (select array_agg(row(delivery_id, chunk_key)::text order by delivery_id) from tests.claims where n = 1),
  'a re-claim after the lease runs out sends the same deliveries under the same key'
);

-- A chunk nobody touched before its claim: the claim writes its deliveries.
insert into tests.claims
select 3, c.delivery_id, c.chunk_key, c.idempotency_key, c.email, c.first_name, c.merge_data
from private.claim_email_batch('w3', 1) as c;
select results_eq(
  $$select count(*)::integer, count(d.id)::integer, bool_and(d.status = 'queued'), min(c.email), max(c.email)
    from tests.claims as c left join public.email_deliveries as d on d.id = c.delivery_id where c.n = 3$$,
  $$values (100, 100, true, 'lead0101@example.test', 'lead0200@example.test')$$,
  'a chunk''s first claim writes its 100 deliveries and sends them'
);

-- Cancelling ---------------------------------------------------------------------------------
update public.email_campaigns set status = 'cancelled' where id = tests.campaign('big');
select results_eq(
  $$select d.status, count(*)::integer from public.email_deliveries as d
    where d.email_campaign_id = tests.campaign('big') group by d.status order by d.status$$,
  $$values ('cancelled', 1049), ('queued', 198), ('suppressed', 3)$$,
  'cancelling writes the deliveries of every chunk not claimed, as cancelled; claimed chunks wait for their workers'
);
select is(
  (select count(*)::integer from private.jobs
   where kind = 'email' and subject_id = tests.campaign('big') and payload ? 'recipients'),
  0, 'no chunk holds recipients any more'
);
select is(
  private.email_campaign_metrics(tests.campaign('big')) -> 'recipients', '1250',
  'the metrics count every recipient once (1,251 less the erased one)'
);

select * from finish();
rollback;
