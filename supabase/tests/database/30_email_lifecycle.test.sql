-- The email campaign lifecycle (migration email_campaign_lifecycle): every move between the
-- seven statuses, tried by the owner from the app (role authenticated) and by the system
-- (postgres: the tick, the service), against the moves each may make; a new campaign
-- starts as draft or scheduled; what a campaign sends is frozen once it has started, for
-- the system too; the errors say what went wrong.
begin;
\ir _helpers.psql

select plan(155);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
  -- Alice sends from her own verified domain (a scheduled campaign's sender is checked).
  perform tests.verify_sending_domain('alice', 'example.test');
end;
$$;

-- An email campaign of `owner` in status `wanted`, reached through legal moves as the
-- system. The recipient list is empty, so starting it fans out nothing.
create function tests.email_campaign_in(owner text, wanted text)
returns uuid
language plpgsql
as $$
declare
  made uuid;
begin
  made := tests.insert_row('email_campaigns', owner, jsonb_build_object(
    'status', case when wanted = 'draft' then 'draft' else 'scheduled' end,
    'send_at', case when wanted = 'draft' then null else '2030-01-01T09:00:00Z' end
  ));
  if wanted in ('sending', 'paused', 'sent', 'failed', 'cancelled') then
    update public.email_campaigns set status = 'sending' where id = made;
  end if;
  if wanted in ('paused', 'sent', 'failed', 'cancelled') then
    update public.email_campaigns set status = wanted where id = made;
  end if;
  return made;
end;
$$;

-- Runs `update public.email_campaigns set <set_clause> where id = <campaign>` as `actor`
-- ('system' is postgres) and undoes it; returns 'ok' (one row changed), 'no row', or
-- '<sqlstate>: <message>'.
create function tests.try_update(campaign uuid, set_clause text, actor text)
returns text
language plpgsql
as $$
declare
  changed integer;
  result text;
begin
  begin
    if actor <> 'system' then
      perform tests.authenticate_as(actor);
    end if;
    execute format('update public.email_campaigns set %s where id = %L', set_clause, campaign);
    get diagnostics changed = row_count;
    raise exception using errcode = 'P0099', message = case when changed = 1 then 'ok' else 'no row' end;
  exception
    when sqlstate 'P0099' then result := sqlerrm;
    when others then result := sqlstate || ': ' || sqlerrm;
  end;
  perform tests.clear_authentication();
  return result;
end;
$$;

create table tests.statuses (ord integer, status text);
insert into tests.statuses values
  (1, 'draft'), (2, 'scheduled'), (3, 'sending'), (4, 'paused'), (5, 'sent'), (6, 'failed'), (7, 'cancelled');

create table tests.fixture as
select s.status, tests.email_campaign_in('alice', s.status) as id
from tests.statuses as s;

select is(
  (select array_agg(e.status order by s.ord) from tests.fixture as f
   join public.email_campaigns as e on e.id = f.id join tests.statuses as s on s.status = f.status),
  array['draft', 'scheduled', 'sending', 'paused', 'sent', 'failed', 'cancelled'],
  'fixture: one campaign of alice''s in each status'
);

-- Every move -----------------------------------------------------------------------------
-- The moves each actor may make; everything else is refused with 23514, naming both ends.
create table tests.legal_moves (actor text, from_status text, to_status text);
insert into tests.legal_moves values
  ('alice', 'draft', 'scheduled'),
  ('alice', 'scheduled', 'draft'),
  ('alice', 'sending', 'paused'),
  ('alice', 'sending', 'cancelled'),
  ('alice', 'paused', 'sending'),
  ('alice', 'paused', 'cancelled');
insert into tests.legal_moves
select 'system', from_status, to_status from tests.legal_moves
union all
values ('system', 'scheduled', 'sending'), ('system', 'sending', 'sent'), ('system', 'sending', 'failed'),
  -- The tick fails a campaign it cannot start (20261204120300_email_campaign_failed_start).
  ('system', 'scheduled', 'failed');

select case
  when m.actor is not null then
    is(tests.try_update(f.id, format('status = %L, send_at = coalesce(send_at, now())', t.status), a.actor), 'ok',
       format('%s may move a campaign from %s to %s', a.label, f.status, t.status))
  else
    alike(tests.try_update(f.id, format('status = %L, send_at = coalesce(send_at, now())', t.status), a.actor),
          format('23514: an email campaign cannot move from %s to %s: %%', f.status, t.status),
          format('%s may not move a campaign from %s to %s', a.label, f.status, t.status))
end
from (values (1, 'alice', 'the owner (a client)'), (2, 'system', 'the system')) as a (n, actor, label)
cross join tests.fixture as f
join tests.statuses as fs on fs.status = f.status
cross join tests.statuses as t
left join tests.legal_moves as m on m.actor = a.actor and m.from_status = f.status and m.to_status = t.status
where t.status <> f.status
order by a.n, fs.ord, t.ord;

-- The errors say where the campaign may go, and what to do.
select is(
  tests.try_update((select id from tests.fixture where status = 'sending'), 'status = ''draft''', 'alice'),
  '23514: an email campaign cannot move from sending to draft: from sending it may move to paused or cancelled',
  'a refused move lists the moves allowed from there, to the client'
);
select is(
  tests.try_update((select id from tests.fixture where status = 'sending'), 'status = ''draft''', 'system'),
  '23514: an email campaign cannot move from sending to draft: from sending it may move to paused or cancelled or sent or failed',
  '... and to the system, which has more'
);
select is(
  tests.try_update((select id from tests.fixture where status = 'sent'), 'status = ''draft''', 'alice'),
  '23514: an email campaign cannot move from sent to draft: sent is final',
  'a finished campaign is final'
);
select is(
  tests.try_update((select id from tests.fixture where status = 'scheduled'), 'status = ''sending''', 'alice'),
  '23514: an email campaign cannot move from scheduled to sending: from scheduled it may move to draft',
  'a client cannot start a send: the system does at send_at'
);

-- The hint says what to do instead.
create function tests.error_hint(stmt text)
returns text
language plpgsql
as $$
declare
  hint text;
begin
  execute stmt;
  return null;
exception when others then
  get stacked diagnostics hint = pg_exception_hint;
  return hint;
end;
$$;
select is(
  tests.error_hint(format('update public.email_campaigns set status = ''sent'' where id = %L',
    (select id from tests.fixture where status = 'draft'))),
  'Sending starts by itself at send_at, and the campaign becomes sent or failed when every delivery is done.',
  'the hint of a system-only move says the system makes it'
);
select is(
  tests.error_hint(format('update public.email_campaigns set subject = ''Changed'' where id = %L',
    (select id from tests.fixture where status = 'sent'))),
  'Only draft and scheduled campaigns can be edited; create a new campaign to send something else.',
  'the hint of a frozen column says how to send something else'
);

-- Scheduling needs send_at (the table's check).
select is(
  tests.try_update((select id from tests.fixture where status = 'draft'), 'status = ''scheduled'', send_at = null', 'alice'),
  '23514: new row for relation "email_campaigns" violates check constraint "email_campaigns_scheduled_needs_send_at_check"',
  'scheduling a draft without send_at is refused by the check'
);
-- Rescheduling a scheduled send and keeping a status are fine.
select is(
  tests.try_update((select id from tests.fixture where status = 'scheduled'), 'send_at = ''2031-01-01''', 'alice'),
  'ok', 'the owner may move send_at of a scheduled campaign'
);
select is(
  tests.try_update((select id from tests.fixture where status = 'sending'), 'status = ''sending''', 'alice'),
  'ok', 'setting the status a campaign already has is not a move'
);
-- Another user cannot reach alice's campaign at all.
select is(
  tests.try_update((select id from tests.fixture where status = 'sending'), 'status = ''paused''', 'mallory'),
  'no row', 'another user cannot pause alice''s campaign (it is invisible to him)'
);

-- A new campaign ----------------------------------------------------------------------------
select tests.authenticate_as('alice');
select throws_ok(
  tests.insert_sql('email_campaigns', null, jsonb_build_object('status', s)),
  '23514',
  format('a new email campaign cannot start as %s', s),
  format('the owner cannot create a campaign that is already %s', s)
)
from unnest(array['sending', 'paused', 'sent', 'failed', 'cancelled']) with ordinality as x (s, n)
order by n;
select lives_ok(
  tests.insert_sql('email_campaigns', null, '{"status": "scheduled", "send_at": "2030-01-01T00:00:00Z"}'),
  'the owner can create a scheduled campaign'
);
select tests.clear_authentication();
select throws_ok(
  tests.insert_sql('email_campaigns', 'alice', '{"status": "sent"}'),
  '23514',
  'a new email campaign cannot start as sent',
  'the system cannot create a finished campaign either'
);
select throws_ok(
  tests.insert_sql('email_campaigns', 'alice', '{"status": "queued"}'),
  '23514',
  'new row for relation "email_campaigns" violates check constraint "email_campaigns_status_check"',
  'an unknown status is left to the status check, which names it'
);

-- Frozen once started -------------------------------------------------------------------------
-- What a campaign sends, by column: a new value for each.
create table tests.frozen (ord integer, col text, new_value text);
insert into tests.frozen values
  (1, 'subject', '''Changed'''),
  (2, 'content', '''Changed body'''),
  (3, 'recipient_list', '''[{"email": "new@example.test"}]'''),
  (4, 'template_id', format('%L', tests.insert_row('content', 'alice'))),
  (5, 'from_email', '''news@example.test'''),
  (6, 'from_name', '''Alice'''),
  (7, 'reply_to', '''reply@example.test''');

select is(
  tests.try_update(f.id, format('%s = %s', z.col, z.new_value), 'alice'),
  'ok',
  format('the owner may change %s while the campaign is %s', z.col, f.status)
)
from tests.fixture as f
join tests.statuses as s on s.status = f.status
cross join tests.frozen as z
where f.status in ('draft', 'scheduled')
order by s.ord, z.ord;

select is(
  tests.try_update(f.id, format('%s = %s', z.col, z.new_value), 'alice'),
  format('23514: email campaign %s cannot change once the campaign is %s', z.col, f.status),
  format('%s is frozen once the campaign is %s', z.col, f.status)
)
from tests.fixture as f
join tests.statuses as s on s.status = f.status
cross join tests.frozen as z
where f.status not in ('draft', 'scheduled')
order by s.ord, z.ord;

select is(
  tests.try_update((select id from tests.fixture where status = 'sending'), 'content = ''Sneaky''', 'system'),
  '23514: email campaign content cannot change once the campaign is sending',
  'content is frozen for the system too'
);
select is(
  tests.try_update((select id from tests.fixture where status = 'sending'),
    'status = ''paused'', subject = ''Changed''', 'alice'),
  '23514: email campaign subject cannot change once the campaign is sending',
  'a move cannot smuggle in a change of what is sent'
);
select is(
  tests.try_update((select id from tests.fixture where status = 'sending'), 'campaign_id = null, send_at = now()', 'alice'),
  'ok',
  'what is not sent (the parent campaign, send_at) may still change while sending'
);

select * from finish();
rollback;
