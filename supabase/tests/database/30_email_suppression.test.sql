-- The suppression list (migration email_suppressions): one address per owner, compared
-- case-insensitively; the owner sees hers and may add and remove manual entries only;
-- nobody else sees or adds any. And no send reaches a suppressed address: fan-out records
-- it as a 'suppressed' delivery without queueing it, and the claim checks again, so an
-- address suppressed after fan-out is not sent either.
begin;
\ir _helpers.psql

select plan(30);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

-- Queue rows of other campaigns (on a developer's database) wait while this file runs, so
-- that every claim below sees only this file's rows; the rollback at the end undoes it.
update private.email_queue set paused = true where not paused;

-- A suppression made as postgres, as the system makes them.
create function tests.suppress(owner text, address text, why text)
returns uuid
language sql
as $$
  insert into public.email_suppressions (user_id, email, reason)
  values (tests.get_user_id(owner), address, why)
  returning id
$$;

-- A campaign of `owner` to `list` that has started sending (fanned out).
create function tests.sending_campaign(owner text, list jsonb)
returns uuid
language plpgsql
as $$
declare
  made uuid;
begin
  made := tests.insert_row('email_campaigns', owner, jsonb_build_object(
    'recipient_list', list, 'status', 'scheduled', 'send_at', now() - interval '1 minute'));
  update public.email_campaigns set status = 'sending' where id = made;
  return made;
end;
$$;

create table tests.fixture as
select
  tests.suppress('alice', 'gone@example.test', 'unsubscribed') as alice_unsubscribed,
  tests.suppress('alice', 'Manual@Example.test', 'manual') as alice_manual,
  tests.suppress('mallory', 'mallory-list@example.test', 'complaint') as mallory_complaint;
grant select on tests.fixture to authenticated, anon;

-- The table -----------------------------------------------------------------------------------
select throws_ok(
  $$select tests.suppress('alice', 'GONE@example.TEST', 'manual')$$,
  '23505', null,
  'an owner has an address once, whatever its case'
);
select lives_ok(
  $$select tests.suppress('mallory', 'gone@example.test', 'manual')$$,
  'another owner may suppress the same address'
);
select throws_ok(
  $$select tests.suppress('alice', 'not-an-address', 'manual')$$,
  '23514',
  'new row for relation "email_suppressions" violates check constraint "email_suppressions_email_check"',
  'a suppression is an email address'
);
select throws_ok(
  $$select tests.suppress('alice', 'x@example.test', 'bored')$$,
  '23514',
  'new row for relation "email_suppressions" violates check constraint "email_suppressions_reason_check"',
  'a suppression has a known reason'
);

-- Who sees and changes what ----------------------------------------------------------------------
select tests.authenticate_as('alice');
select results_eq(
  'select lower(email), reason from public.email_suppressions order by 1',
  $$values ('gone@example.test', 'unsubscribed'), ('manual@example.test', 'manual')$$,
  'the owner sees all her suppressions, and no one else''s'
);
select * from tests.affects(
  $$insert into public.email_suppressions (email) values ('added@example.test') returning reason, user_id$$,
  1, 'the owner can add an address; it is manual and hers',
  'reason = ''manual'' and user_id = auth.uid()'
);
select throws_ok(
  $$insert into public.email_suppressions (email, reason) values ('fake@example.test', 'unsubscribed')$$,
  '42501',
  'new row violates row-level security policy for table "email_suppressions"',
  'the owner cannot add an address as unsubscribed (only the recipient does that)'
);
select throws_ok(
  format($$insert into public.email_suppressions (user_id, email) values (%L, 'x@example.test')$$,
    tests.get_user_id('mallory')),
  '42501',
  'new row violates row-level security policy for table "email_suppressions"',
  'the owner cannot add an address to another user''s list'
);
select throws_ok(
  format($$update public.email_suppressions set reason = 'manual' where id = %L$$,
    (select alice_unsubscribed from tests.fixture)),
  '42501', null,
  'the owner cannot update a suppression (turning an unsubscribe into a manual entry, say)'
);
select * from tests.affects(
  format($$delete from public.email_suppressions where id = %L returning id$$,
    (select alice_unsubscribed from tests.fixture)),
  0, 'the owner cannot remove an unsubscribed address'
);
select * from tests.affects(
  format($$delete from public.email_suppressions where id = %L returning id$$,
    (select alice_manual from tests.fixture)),
  1, 'the owner can remove a manual entry'
);

select tests.authenticate_as('mallory');
select results_eq(
  'select lower(email) from public.email_suppressions order by 1',
  $$values ('gone@example.test'), ('mallory-list@example.test')$$,
  'another user sees only his own suppressions'
);
select * from tests.affects(
  format($$delete from public.email_suppressions where id = %L returning id$$,
    (select alice_unsubscribed from tests.fixture)),
  0, 'another user cannot remove alice''s suppressions'
);

select tests.authenticate_as_anon();
select throws_ok('select * from public.email_suppressions', '42501', null, 'anon cannot read suppressions');
select throws_ok(
  $$insert into public.email_suppressions (email) values ('anon@example.test')$$,
  '42501', null, 'anon cannot add one'
);
select throws_ok('delete from public.email_suppressions', '42501', null, 'anon cannot remove one');
select tests.clear_authentication();

select is(
  (select count(*)::integer from public.email_suppressions where id = (select alice_unsubscribed from tests.fixture)),
  1, 'alice''s unsubscribed address is still on her list after all that'
);

-- No send reaches a suppressed address ------------------------------------------------------
do $$ begin perform tests.suppress('alice', 'Zed@Example.test', 'hard_bounce'); end $$;
create table tests.campaign as
select tests.sending_campaign('alice', '[
  "gone@example.test", "zed@example.test", "ok@example.test", {"email": "later@example.test"},
  "mallory-list@example.test"
]') as id;

select results_eq(
  $$select d.email, d.status, q.delivery_id is not null
    from public.email_deliveries as d
    left join private.email_queue as q on q.delivery_id = d.id
    where d.email_campaign_id = (select id from tests.campaign)
    order by d.email$$,
  $$values ('gone@example.test', 'suppressed', false),
           ('later@example.test', 'queued', true),
           ('mallory-list@example.test', 'queued', true),
           ('ok@example.test', 'queued', true),
           ('zed@example.test', 'suppressed', false)$$,
  'fan-out records suppressed addresses (in any case) as suppressed deliveries, out of the queue; '
    || 'another user''s list does not apply'
);

-- Suppressed after fan-out: the claim checks again.
do $$ begin perform tests.suppress('alice', 'LATER@example.test', 'unsubscribed'); end $$;
create table tests.claimed as
select * from private.claim_email_batch('worker-1');
select is(
  (select array_agg(email order by email) from tests.claimed),
  array['mallory-list@example.test', 'ok@example.test'],
  'the claim does not return an address suppressed since fan-out'
);
select is(
  (select status from public.email_deliveries where email = 'later@example.test'),
  'suppressed',
  'the claim marks it suppressed'
);
select is(
  (select count(*)::integer from private.email_queue as q
   join public.email_deliveries as d on d.id = q.delivery_id where d.email = 'later@example.test'),
  0,
  'and takes it out of the queue'
);
select is(
  (select count(distinct chunk_key)::integer from tests.claimed),
  1,
  'the rest of the chunk is still claimed as one chunk'
);
select ok(
  (select chunk_key from tests.claimed limit 1) = encode(sha256(convert_to(
     (select string_agg(idempotency_key, ',' order by idempotency_key) from tests.claimed), 'UTF8')), 'hex'),
  'its key covers the members actually claimed'
);

-- The events that suppress ----------------------------------------------------------------------
create function tests.delivery(address text)
returns uuid
language sql
as $$
  select id from public.email_deliveries
  where email_campaign_id = (select id from tests.campaign) and email = address
$$;

do $$ begin perform private.record_email_event('unsubscribed', tests.delivery('ok@example.test'), now()); end $$;
select is(
  (select row(reason, email_campaign_id)::text from public.email_suppressions
   where user_id = tests.get_user_id('alice') and email = 'ok@example.test'),
  row('unsubscribed', (select id from tests.campaign))::text,
  'an unsubscribe suppresses the address, naming the campaign'
);

-- A manual entry is replaced by the recipient's own unsubscribe, which the owner cannot remove.
do $$ begin perform tests.suppress('alice', 'mallory-list@example.test', 'manual'); end $$;
do $$ begin perform private.record_email_event('complained', tests.delivery('mallory-list@example.test'), now()); end $$;
select is(
  (select reason from public.email_suppressions
   where user_id = tests.get_user_id('alice') and email = 'mallory-list@example.test'),
  'complaint',
  'a complaint replaces a manual entry for the address'
);
select tests.authenticate_as('alice');
select * from tests.affects(
  $$delete from public.email_suppressions where email = 'mallory-list@example.test' returning id$$,
  0, 'so the owner can no longer remove it'
);
select tests.clear_authentication();

-- Bounces: hard (or unspecified) suppress, soft do not.
create table tests.bounce_campaign as
select tests.sending_campaign('alice', '["hard@example.test", "soft@example.test", "plain@example.test"]') as id;
create function tests.bounce_delivery(address text)
returns uuid
language sql
as $$
  select id from public.email_deliveries
  where email_campaign_id = (select id from tests.bounce_campaign) and email = address
$$;
do $$ begin perform private.record_email_event('bounced', tests.bounce_delivery('hard@example.test'), now(), false, '{"bounce_type": "hard"}'); end $$;
do $$ begin perform private.record_email_event('bounced', tests.bounce_delivery('soft@example.test'), now(), false, '{"bounce_type": "soft"}'); end $$;
do $$ begin perform private.record_email_event('bounced', tests.bounce_delivery('plain@example.test'), now()); end $$;
select results_eq(
  $$select email, reason from public.email_suppressions
    where email in ('hard@example.test', 'soft@example.test', 'plain@example.test') order by email$$,
  $$values ('hard@example.test', 'hard_bounce'), ('plain@example.test', 'hard_bounce')$$,
  'a hard bounce (and one of unknown type) suppresses the address; a soft bounce does not'
);

-- A later campaign to the same addresses sends to none of the suppressed ones.
create table tests.next_campaign as
select tests.sending_campaign('alice', '["gone@example.test", "ok@example.test", "later@example.test",
  "mallory-list@example.test", "hard@example.test", "soft@example.test", "zed@example.test", "new@example.test"]') as id;
select results_eq(
  $$select d.email from private.email_queue as q join public.email_deliveries as d on d.id = q.delivery_id
    where q.email_campaign_id = (select id from tests.next_campaign) order by 1$$,
  $$values ('new@example.test'), ('soft@example.test')$$,
  'the next campaign queues only addresses that are not suppressed'
);
select is(
  (select count(*)::integer from public.email_deliveries
   where email_campaign_id = (select id from tests.next_campaign) and status = 'suppressed'),
  6,
  'and records the six suppressed ones as such'
);

-- Mallory's campaign to alice's suppressed address is not affected by her list.
create table tests.mallory_campaign as
select tests.sending_campaign('mallory', '["ok@example.test", "gone@example.test"]') as id;
select results_eq(
  $$select d.email, d.status from public.email_deliveries as d
    where d.email_campaign_id = (select id from tests.mallory_campaign) order by 1$$,
  $$values ('gone@example.test', 'suppressed'), ('ok@example.test', 'queued')$$,
  'each owner''s list applies to his own campaigns only (mallory suppressed gone@ himself)'
);

select * from finish();
rollback;
