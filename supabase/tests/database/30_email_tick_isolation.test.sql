-- The email tick isolates campaigns (migrations email_tick_isolation, email_fan_out_integers,
-- email_recipient_list_check, email_campaign_failed_start): a campaign whose data makes its
-- fan-out fail becomes failed with a readable error_message, and every other due campaign in
-- the same tick starts and fans out. A min_score written 1.0, which the validator accepts,
-- fans out like 1. The daily purges forget only what is old.
begin;
\ir _helpers.psql

select plan(19);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('bob');
  perform tests.create_user('carol');
end;
$$;

-- Queue rows and due campaigns of others (on a developer's database) wait while this file
-- runs; the rollback at the end undoes it.
update private.email_queue set paused = true where not paused;
update public.email_campaigns set send_at = now() + interval '1 day' where status = 'scheduled';

-- carol's leads: scores 0, 1 and 5 (written as Beacon's scoring would).
insert into public.leads (user_id, email)
select tests.get_user_id('carol'), format('c%s@example.test', n) from unnest(array[0, 1, 5]) as n;
select set_config('beacon.trusted_score_write', 'on', true);
update public.leads set score = split_part(substr(email, 2), '@', 1)::integer where user_id = tests.get_user_id('carol');
select set_config('beacon.trusted_score_write', '', true);

create table tests.campaigns as
select c.name, tests.insert_row('email_campaigns', c.owner, c.fields) as id
from (values
  ('poisoned', 'alice', '{"recipient_list": ["a@example.test"], "status": "scheduled", "send_at": "2020-01-01T00:00:00Z"}'::jsonb),
  ('ordinary', 'bob', '{"recipient_list": ["b1@example.test", "b2@example.test"], "status": "scheduled",
                       "send_at": "2020-01-01T00:00:01Z"}'),
  ('one_point_zero', 'carol', '{"recipient_list": [{"leads": {"min_score": 1.0}}], "status": "scheduled",
                               "send_at": "2020-01-01T00:00:02Z"}')
) as c (name, owner, fields);

create function tests.campaign(name text)
returns uuid
language sql
as $$ select id from tests.campaigns where campaigns.name = campaign.name $$;
grant select on tests.campaigns to authenticated;

-- alice's list is poisoned past the validator, as only a database superuser or a bug could.
alter table public.email_campaigns disable trigger check_recipient_list;
update public.email_campaigns
set recipient_list = '["a@example.test", {"leads": {"ids": ["not-a-uuid"]}}]'
where id = tests.campaign('poisoned');
alter table public.email_campaigns enable trigger check_recipient_list;

select is(
  private.recipient_list_problem((select recipient_list from public.email_campaigns where id = tests.campaign('poisoned'))),
  'recipient_list[1].leads.ids[0]: "not-a-uuid" is not a lead id (a uuid)',
  'fixture: alice''s stored list is one the validator would refuse'
);
select throws_ok(
  format('select private.fan_out_email_campaign(%L)', tests.campaign('poisoned')),
  '23514', 'recipient_list[1].leads.ids[0]: "not-a-uuid" is not a lead id (a uuid)',
  'fan-out refuses it with the validator''s reason, before writing anything'
);

-- One tick ------------------------------------------------------------------------------------
create table tests.ticks (n serial, result jsonb);
insert into tests.ticks (result) select private.email_tick();

select is(
  (select row((result ->> 'started')::integer, (result ->> 'failed')::integer)::text from tests.ticks where n = 1),
  row(2, 1)::text,
  'the tick started two campaigns and failed one'
);
select is(
  (select status from public.email_campaigns where id = tests.campaign('ordinary')),
  'sending', 'bob''s ordinary campaign left scheduled'
);
select is(
  (select count(*)::integer from private.email_queue where email_campaign_id = tests.campaign('ordinary')),
  2, 'and fanned out: both recipients are queued'
);
select is(
  (select row(status, error_message)::text from public.email_campaigns where id = tests.campaign('poisoned')),
  row('failed', 'could not start sending: recipient_list[1].leads.ids[0]: "not-a-uuid" is not a lead id (a uuid)')::text,
  'alice''s poisoned campaign is failed, with the reason'
);
select is(
  (select count(*)::integer from public.email_deliveries where email_campaign_id = tests.campaign('poisoned')),
  0, 'and nothing of it was written'
);
select is(
  (select error_message from public.email_campaigns where id = tests.campaign('ordinary')),
  null, 'the ordinary campaign carries no error'
);

-- min_score 1.0: accepted, and run ---------------------------------------------------------------
select is(
  (select status from public.email_campaigns where id = tests.campaign('one_point_zero')),
  'sending', 'carol''s campaign with min_score 1.0 started'
);
select is(
  (select array_agg(email order by email) from public.email_deliveries where email_campaign_id = tests.campaign('one_point_zero')),
  array['c1@example.test', 'c5@example.test'],
  'and reached exactly the leads scoring at least 1'
);

-- The next tick goes on: the failed campaign is final and no longer tried.
insert into tests.ticks (result) select private.email_tick();
select is(
  (select row((result ->> 'started')::integer, (result ->> 'failed')::integer)::text from tests.ticks where n = 2),
  row(0, 0)::text,
  'the next tick neither starts nor fails anything again'
);

-- The owner reads the reason; she cannot write it.
select tests.authenticate_as('alice');
select is(
  (select error_message from public.email_campaigns where id = tests.campaign('poisoned')),
  'could not start sending: recipient_list[1].leads.ids[0]: "not-a-uuid" is not a lead id (a uuid)',
  'alice reads why her campaign failed'
);
select throws_ok(
  format($$update public.email_campaigns set error_message = null where id = %L$$, tests.campaign('poisoned')),
  '42501', null, 'error_message is the system''s: the owner cannot write it'
);
select tests.authenticate_as('bob');
select is(
  (select count(*)::integer from public.email_campaigns where id = tests.campaign('poisoned')),
  0, 'another owner sees nothing of it'
);
select tests.clear_authentication();

-- The tick's steps name a step they do not know.
select throws_ok($$select private.email_tick_units('later')$$, '22023', 'email_tick_units: unknown step ''later''',
  'email_tick_units refuses an unknown step');
select throws_ok($$select private.email_tick_run('later', '{}')$$, '22023', 'email_tick_run: unknown step ''later''',
  'email_tick_run refuses an unknown step');

-- Purges: what is old goes, what is recent stays -----------------------------------------------
insert into private.processed_webhooks (id, received_at)
values ('msg_old', now() - interval '8 days'), ('msg_new', now() - interval '6 days');
select is(private.purge_processed_webhooks() >= 1, true, 'the webhook purge forgets ids older than a week');
select is(
  (select array_agg(id order by id) from private.processed_webhooks where id in ('msg_old', 'msg_new')),
  array['msg_new'], 'and keeps the recent ones'
);
insert into private.email_unsubscribe_keys (delivery_id, user_id, email, kept_until)
values
  ('00000000-0000-4000-8000-000000000001', tests.get_user_id('alice'), 'old@example.test', now() - interval '1 second'),
  ('00000000-0000-4000-8000-000000000002', tests.get_user_id('alice'), 'new@example.test', now() + interval '1 day');
do $$ begin perform private.purge_email_unsubscribe_keys(); end; $$;
select is(
  (select array_agg(email) from private.email_unsubscribe_keys where user_id = tests.get_user_id('alice')),
  array['new@example.test'], 'the unsubscribe-key purge forgets keys past kept_until only'
);

select * from finish();
rollback;
