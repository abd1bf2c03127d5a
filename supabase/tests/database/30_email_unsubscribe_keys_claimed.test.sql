-- A campaign deleted while a claimed chunk was sent but not yet reported keeps its recipients'
-- unsubscribe links (migration unsubscribe_keys_claimed_chunks): the claim writes nothing on
-- the deliveries (no sent_at, attempts 0 until the worker reports), yet their keys outlive the
-- campaign, the unsubscribe page's lookup finds them and a one-click unsubscribe suppresses
-- the address. A campaign whose chunk no worker claimed leaves no keys.
begin;
\ir _helpers.psql

select plan(7);

do $$
begin
  perform tests.create_user('alice');
  perform tests.verify_sending_domain('alice', 'alice.example');
end;
$$;
update private.jobs set status = 'held' where status = 'ready' and kind = 'email';

create table tests.campaigns as
select name, tests.insert_row('email_campaigns', 'alice', jsonb_build_object(
  'subject', 'Hello', 'from_email', 'news@alice.example', 'from_name', 'Alice Shop',
  'recipient_list', jsonb_build_array(name || '-a@example.test', name || '-b@example.test'),
  'status', 'scheduled', 'send_at', now())) as id
from unnest(array['claimed', 'waiting']) as name;
update public.email_campaigns set status = 'sending' where id = (select id from tests.campaigns where name = 'claimed');
select is((select count(*)::integer from private.claim_email_batch('mailer', 10)), 2, 'fixture: the chunk is claimed');
update public.email_campaigns set status = 'sending' where id = (select id from tests.campaigns where name = 'waiting');
select results_eq(
  $$select d.status, d.sent_at is null, d.attempts from public.email_deliveries as d
    where d.email_campaign_id = (select id from tests.campaigns where name = 'claimed')$$,
  $$values ('queued', true, 0), ('queued', true, 0)$$,
  'fixture: the claimed deliveries look unsent until the worker reports'
);
create table tests.deliveries as
select d.id, d.email from public.email_deliveries as d
where d.email_campaign_id in (select id from tests.campaigns);
grant select on tests.campaigns to authenticated;

select tests.authenticate_as('alice');
select tests.affects('delete from public.email_campaigns returning id', 2, 'alice deletes both campaigns before any report');
select tests.clear_authentication();

select is(
  (select array_agg(row(k.email, k.sender, k.kept_until > now() + interval '59 days')::text order by k.email)
   from private.email_unsubscribe_keys as k where k.user_id = tests.get_user_id('alice')),
  array[row('claimed-a@example.test', 'Alice Shop', true)::text, row('claimed-b@example.test', 'Alice Shop', true)::text],
  'the claimed chunk''s deliveries keep their keys for 60 days; the chunk never claimed leaves none'
);
-- The lookup of the unsubscribe page (supabase/functions/track/queries.ts, recipientOf).
select is(
  (select array_agg(k.email order by k.email) from tests.deliveries as d
   join private.email_unsubscribe_keys as k on k.delivery_id = d.id and k.kept_until > now()),
  array['claimed-a@example.test', 'claimed-b@example.test'],
  'the unsubscribe page finds the claimed deliveries'' links'
);
select is(
  private.record_email_event('unsubscribed', (select id from tests.deliveries where email = 'claimed-a@example.test'), now())
    ->> 'suppressed',
  'unsubscribed', 'a one-click unsubscribe by such a link works'
);
select is(
  (select reason from public.email_suppressions where user_id = tests.get_user_id('alice') and email = 'claimed-a@example.test'),
  'unsubscribed', 'and suppresses the address'
);

select * from finish();
rollback;
