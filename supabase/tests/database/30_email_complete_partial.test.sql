-- complete_email_batch with reports that cover part of what a worker holds (migration
-- email_complete_members_once): members nobody reported keep their chunk under the worker's
-- lease, reported ones settle, a chunk with nothing left ends, and retries of a chunk still
-- partly unreported split off as a chunk of their own.
begin;
\ir _helpers.psql

select plan(12);

do $$ begin perform tests.create_user('alice'); end; $$;
do $$ begin perform tests.verify_sending_domain('alice', 'alice.example'); end; $$;
-- Other campaigns' queue rows (on a developer's database) wait while this file runs.
update private.email_queue set paused = true where not paused;

do $$
declare
  made uuid;
begin
  made := tests.insert_row('email_campaigns', 'alice', jsonb_build_object(
    'subject', 'Hello', 'from_email', 'news@alice.example',
    'recipient_list', (select jsonb_agg(format('p%s@example.test', lpad(i::text, 3, '0'))) from generate_series(1, 150) as i),
    'status', 'scheduled', 'send_at', now()));
  update public.email_campaigns set status = 'sending' where id = made;
end;
$$;

create table tests.claims as
select c.delivery_id, c.chunk_key, c.email from private.claim_email_batch('w', 10) as c;

create function tests.chunk_of(address text)
returns text
language sql
as $$ select chunk_key from tests.claims where email = address $$;

select is((select count(*)::integer from tests.claims), 150, 'fixture: the worker holds both chunks (100 and 50)');
select is((select count(distinct chunk_key)::integer from tests.claims), 2, 'fixture: two chunks');

-- Of the big chunk: 60 sent, 10 to retry later, 30 not reported. Of the small one: all sent.
create table tests.big as
select delivery_id, email, row_number() over (order by email) as n
from tests.claims
where chunk_key = (select chunk_key from tests.claims group by chunk_key having count(*) = 100);

select is(
  private.complete_email_batch('w', (
    select jsonb_agg(r) from (
      select jsonb_build_object('delivery_id', b.delivery_id, 'outcome', 'sent', 'provider_message_id', 'm-' || b.email) as r
      from tests.big as b where b.n <= 60
      union all
      select jsonb_build_object('delivery_id', b.delivery_id, 'outcome', 'retry', 'error', '503', 'retry_after_seconds', 300)
      from tests.big as b where b.n between 61 and 70
      union all
      select jsonb_build_object('delivery_id', c.delivery_id, 'outcome', 'sent', 'provider_message_id', 'm-' || c.email)
      from tests.claims as c where c.delivery_id not in (select delivery_id from tests.big)
    ) as x)),
  '{"sent": 110, "retried": 10, "failed": 0, "dead_lettered": 0, "cancelled": 0, "ignored": 0}'::jsonb,
  'a report of part of what the worker holds counts what it reports'
);
select is(
  (select count(*)::integer from public.email_deliveries as d join tests.claims as c on c.delivery_id = d.id
   where d.status = 'sent'),
  110,
  'the reported sends are sent'
);
select is(
  (select count(*)::integer from private.email_queue as q
   where q.delivery_id in (select delivery_id from tests.big where n > 70) and q.leased_by = 'w' and q.lease_until > now()),
  30,
  'the 30 members nobody reported are still leased to the worker'
);
select is(
  (select count(*)::integer from private.email_queue as q
   where q.delivery_id in (select delivery_id from tests.big where n between 61 and 70)
     and q.leased_by is null and q.run_after >= now() + interval '300 seconds'),
  10,
  'the 10 retries wait for their retry-after, unleased'
);
select is(
  (select count(distinct q.job_id)::integer from private.email_queue as q
   where q.delivery_id in (select delivery_id from tests.big where n > 60)),
  2,
  '... as a chunk of their own, apart from the unreported members'
);
select is(
  (select count(*)::integer from private.email_queue as q
   where q.delivery_id in (select delivery_id from tests.claims where delivery_id not in (select delivery_id from tests.big))),
  0,
  'the fully reported chunk has left the queue'
);

-- The rest of the big chunk, reported later by the same worker.
select is(
  private.complete_email_batch('w', (
    select jsonb_agg(jsonb_build_object('delivery_id', b.delivery_id, 'outcome', 'sent', 'provider_message_id', 'm-' || b.email))
    from tests.big as b where b.n > 70)),
  '{"sent": 30, "retried": 0, "failed": 0, "dead_lettered": 0, "cancelled": 0, "ignored": 0}'::jsonb,
  'the members left are reported later'
);
select is(
  (select count(*)::integer from private.email_queue as q
   where q.delivery_id in (select delivery_id from tests.big where n > 70)),
  0,
  '... and their chunk ends'
);
select is(
  (select count(*)::integer from private.email_queue as q
   where q.delivery_id in (select delivery_id from tests.big where n between 61 and 70)),
  10,
  'the retries still wait in their own chunk'
);
select is(
  private.complete_email_batch('w', (
    select jsonb_agg(jsonb_build_object('delivery_id', b.delivery_id, 'outcome', 'sent'))
    from tests.big as b where b.n between 61 and 70)),
  '{"sent": 0, "retried": 0, "failed": 0, "dead_lettered": 0, "cancelled": 0, "ignored": 10}'::jsonb,
  'a report of members the worker no longer holds is ignored'
);

select * from finish();
rollback;
