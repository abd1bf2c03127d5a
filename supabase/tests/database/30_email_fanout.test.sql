-- Fan-out (migrations email_fan_out, email_campaign_controls, email_tick): the tick starts
-- due campaigns and only those; each becomes one delivery per recipient and one queue row
-- per sendable delivery, in chunks of at most 100 by address; suppressed recipients are
-- recorded, not queued; a second tick changes nothing; a campaign with nobody left to send
-- to finishes at once.
begin;
\ir _helpers.psql

select plan(31);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

-- alice: 250 leads tagged "all" (lead001..lead250), three of them suppressed; mallory: one
-- lead with the same tag.
insert into public.leads (user_id, email, tags)
select tests.get_user_id('alice'), format('lead%s@example.test', lpad(n::text, 3, '0')), '{all}'
from generate_series(1, 250) as n;
insert into public.leads (user_id, email, tags)
values (tests.get_user_id('mallory'), 'mallory-lead@example.test', '{all}');
insert into public.email_suppressions (user_id, email, reason)
select tests.get_user_id('alice'), format('LEAD%s@example.test', n), 'unsubscribed'
from unnest(array['007', '100', '200']) as n;

create table tests.campaigns as
select c.name, tests.insert_row('email_campaigns', c.owner, c.fields) as id
from (values
  ('due', 'alice', '{"recipient_list": [{"leads": {"tags": ["all"]}}, {"email": "extra@example.test", "first_name": "Extra"}],
                     "status": "scheduled", "send_at": "2020-01-01T00:00:00Z"}'::jsonb),
  ('future', 'alice', '{"recipient_list": ["a@example.test"], "status": "scheduled", "send_at": "2999-01-01T00:00:00Z"}'),
  ('draft', 'alice', '{"recipient_list": ["a@example.test"], "status": "draft", "send_at": "2020-01-01T00:00:00Z"}'),
  ('empty', 'alice', '{"recipient_list": [], "status": "scheduled", "send_at": "2020-01-01T00:00:00Z"}'),
  ('all_suppressed', 'alice', '{"recipient_list": ["lead007@example.test"], "status": "scheduled", "send_at": "2020-01-01T00:00:00Z"}'),
  ('mallory', 'mallory', '{"recipient_list": [{"leads": {}}], "status": "scheduled", "send_at": "2020-01-01T00:00:00Z"}')
) as c (name, owner, fields);

grant select on tests.campaigns to authenticated;

create function tests.campaign(wanted text)
returns uuid
language sql
as $$
  select id from tests.campaigns where name = wanted
$$;

-- The first tick ----------------------------------------------------------------------------
create table tests.ticks (n serial, result jsonb);
insert into tests.ticks (result) select private.email_tick();

select ok(
  (select (result ->> 'started')::integer >= 4 and (result ->> 'ready')::boolean from tests.ticks where n = 1),
  'the tick reports the campaigns it started and that work is ready'
);
select is(
  (select (result ->> 'dispatch_requested')::boolean from tests.ticks where n = 1),
  false,
  'without pg_net, dispatch is not called from the database'
);
select results_eq(
  $$select c.name, e.status from tests.campaigns as c join public.email_campaigns as e on e.id = c.id order by c.name$$,
  $$values ('all_suppressed', 'sent'), ('draft', 'draft'), ('due', 'sending'), ('empty', 'sent'),
           ('future', 'scheduled'), ('mallory', 'sending')$$,
  'due scheduled campaigns start; future and draft ones do not; ones with nothing to send finish at once'
);

select is(
  (select count(*)::integer from public.email_deliveries where email_campaign_id = tests.campaign('due')),
  251, 'one delivery per recipient: 250 selected leads and one explicit address'
);
select is(
  (select count(*)::integer from public.email_deliveries
   where email_campaign_id = tests.campaign('due') and status = 'suppressed'),
  3, 'the three suppressed leads are recorded as suppressed'
);
select is(
  (select count(*)::integer from public.email_deliveries
   where email_campaign_id = tests.campaign('due') and status = 'queued'),
  248, 'the others are queued'
);
select is(
  (select count(*)::integer from private.email_queue where email_campaign_id = tests.campaign('due')),
  248, 'one queue row per queued delivery'
);
select is_empty(
  $$select d.id from public.email_deliveries as d join private.email_queue as q on q.delivery_id = d.id
    where d.status <> 'queued'$$,
  'no suppressed delivery is in the queue'
);
select is(
  (select count(*)::integer from public.email_deliveries
   where email_campaign_id = tests.campaign('due') and lead_id is not null),
  250, 'lead recipients are linked to their leads'
);
select is_empty(
  $$select d.email from public.email_deliveries as d
    where d.email_campaign_id = (select id from tests.campaigns where name = 'due')
      and d.email = 'mallory-lead@example.test'$$,
  'another user''s lead is never a recipient'
);
select is(
  (select row(first_name, lead_id)::text from public.email_deliveries
   where email_campaign_id = tests.campaign('due') and email = 'extra@example.test'),
  '(Extra,)', 'the explicit recipient is there with its own data'
);
select is(
  (select count(*)::integer from public.email_deliveries where email_campaign_id = tests.campaign('mallory')),
  1, 'mallory''s "every lead" campaign reaches his one lead only'
);

-- Chunks: by address, at most 100, numbered from 0.
select results_eq(
  $$select chunk, count(*)::integer, min(d.email), max(d.email)
    from private.email_queue as q join public.email_deliveries as d on d.id = q.delivery_id
    where q.email_campaign_id = (select id from tests.campaigns where name = 'due')
    group by chunk order by chunk$$,
  $$values (0, 100, 'extra@example.test', 'lead101@example.test'),
           (1, 100, 'lead102@example.test', 'lead202@example.test'),
           (2, 48, 'lead203@example.test', 'lead250@example.test')$$,
  'queued deliveries are chunked by address, 100 to a chunk, suppressed ones skipped'
);
select results_eq(
  $$select bool_and(run_after <= now()), bool_and(attempts = 0), bool_and(lease_until is null and leased_by is null),
           bool_and(not paused), bool_and(user_id = (select user_id from public.email_campaigns where id = email_campaign_id))
    from private.email_queue where email_campaign_id in (select id from tests.campaigns)$$,
  $$values (true, true, true, true, true)$$,
  'queue rows are ready now, unattempted, unleased, not paused, and carry the campaign''s owner'
);
select is(
  (select count(distinct idempotency_key)::integer from public.email_deliveries where email_campaign_id = tests.campaign('due')),
  251, 'every delivery has its own idempotency key'
);
select is(
  (select count(*)::integer from public.email_deliveries
   where email_campaign_id = tests.campaign('due')
     and (attempts <> 0 or last_error is not null or sent_at is not null or provider_message_id is not null)),
  0, 'no delivery has been attempted yet'
);
select is(
  (select metrics from public.email_campaigns where id = tests.campaign('due')),
  '{"recipients": 251, "sent": 0, "delivered": 0, "opened": 0, "clicked": 0, "bounced": 0, "complained": 0,
    "unsubscribed": 0, "failed": 0, "suppressed": 3, "human_opened": 0, "human_clicked": 0}'::jsonb,
  'the tick counted the new campaign''s metrics'
);
select is(
  (select metrics from public.email_campaigns where id = tests.campaign('all_suppressed')),
  '{"recipients": 1, "sent": 0, "delivered": 0, "opened": 0, "clicked": 0, "bounced": 0, "complained": 0,
    "unsubscribed": 0, "failed": 0, "suppressed": 1, "human_opened": 0, "human_clicked": 0}'::jsonb,
  'a campaign whose every recipient is suppressed is sent, with its metrics'
);
select is(
  (select (metrics ->> 'recipients')::integer from public.email_campaigns where id = tests.campaign('empty')),
  0, 'an empty campaign is sent to nobody'
);

-- The second tick: nothing fans out twice --------------------------------------------------------
create table tests.before_second as
select
  (select array_agg(id order by id) from public.email_deliveries) as deliveries,
  (select array_agg(row(delivery_id, chunk, run_after)::text order by delivery_id) from private.email_queue) as queue;
insert into tests.ticks (result) select private.email_tick();
select is(
  (select (result ->> 'started')::integer from tests.ticks where n = 2), 0,
  'a second tick starts nothing'
);
select is(
  (select array_agg(id order by id) from public.email_deliveries),
  (select deliveries from tests.before_second),
  'a second tick makes no delivery'
);
select is(
  (select array_agg(row(delivery_id, chunk, run_after)::text order by delivery_id) from private.email_queue),
  (select queue from tests.before_second),
  'a second tick leaves the queue as it was'
);
select is(
  (select status from public.email_campaigns where id = tests.campaign('due')), 'sending',
  'a campaign with work in the queue keeps sending'
);
select throws_ok(
  format('select private.fan_out_email_campaign(%L)', tests.campaign('due')),
  '23505', null,
  'fanning a campaign out again by hand is refused by the deliveries'' unique keys'
);

-- Rescheduling: the future campaign starts once its send_at has passed.
update public.email_campaigns set send_at = now() - interval '1 second' where id = tests.campaign('future');
insert into tests.ticks (result) select private.email_tick();
select is(
  (select status from public.email_campaigns where id = tests.campaign('future')), 'sending',
  'a campaign starts at the first tick after its send_at'
);

-- Set-based: no loop in the fan-out.
select unalike(
  (select prosrc from pg_proc where oid = 'private.fan_out_email_campaign(uuid)'::regprocedure),
  '%loop%',
  'the fan-out has no per-recipient loop: one statement inserts every delivery and queue row'
);

-- Afterwards --------------------------------------------------------------------------------
delete from public.leads where email = 'lead001@example.test' and user_id = tests.get_user_id('alice');
select is(
  (select row(email, lead_id)::text from public.email_deliveries
   where email_campaign_id = tests.campaign('due') and email = 'lead001@example.test'),
  '(lead001@example.test,)', 'deleting a lead keeps its delivery and forgets the link'
);
select tests.authenticate_as('alice');
select * from tests.affects(
  format('delete from public.email_campaigns where id = %L returning id', tests.campaign('due')),
  1, 'the owner can delete a sending campaign'
);
select tests.clear_authentication();
select is(
  (select count(*)::integer from public.email_deliveries where email_campaign_id = tests.campaign('due')),
  0, 'its deliveries go with it'
);
select is(
  (select count(*)::integer from private.email_queue where email_campaign_id = tests.campaign('due')),
  0, 'and so does its queue'
);
select is(
  (select count(*)::integer from public.email_deliveries where email_campaign_id = tests.campaign('mallory')),
  1, 'other campaigns keep theirs'
);

select * from finish();
rollback;
