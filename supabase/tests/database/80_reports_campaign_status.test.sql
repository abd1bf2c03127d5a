-- A campaign's status governs its email sends: paused pauses its sending email campaigns
-- (the claim gets none of their rows), active resumes them, completed cancels them and takes
-- scheduled ones back to draft; an email campaign that starts, or is resumed by hand, while
-- its campaign is paused pauses at once; another campaign's sends are untouched.
begin;
\ir _helpers.psql

select plan(12);

do $$ begin perform tests.create_user('alice'); end; $$;
do $$ begin perform tests.verify_sending_domain('alice', 'alice.example'); end; $$;
-- Other queue rows (on a developer's database) wait while this file runs.
update private.email_queue set paused = true where not paused;

create function tests.email_campaign(parent uuid, status text)
returns uuid
language plpgsql
as $$
declare
  made uuid;
begin
  made := tests.insert_row('email_campaigns', 'alice', jsonb_build_object(
    'campaign_id', parent, 'subject', 'Hello', 'from_email', 'news@alice.example',
    'recipient_list', (select jsonb_agg(format('r%s-%s@example.test', left(gen_random_uuid()::text, 8), i)) from generate_series(1, 3) as i),
    'status', 'scheduled', 'send_at', now() + interval '1 day'));
  if status = 'sending' then
    update public.email_campaigns set status = 'sending' where id = made;
  end if;
  return made;
end;
$$;

create table tests.ids as
select tests.insert_row('campaigns', 'alice', '{"name": "Spring", "status": "active"}') as spring,
       tests.insert_row('campaigns', 'alice', '{"name": "Other", "status": "active"}') as other;
alter table tests.ids add column sending uuid, add column scheduled uuid, add column bystander uuid;
update tests.ids set sending = tests.email_campaign(spring, 'sending'),
                     scheduled = tests.email_campaign(spring, 'scheduled'),
                     bystander = tests.email_campaign(other, 'sending');
grant select on tests.ids to authenticated;

create function tests.status(id uuid) returns text language sql as $$
  select status from public.email_campaigns where email_campaigns.id = status.id
$$;
create function tests.claimable(id uuid) returns bigint language sql as $$
  select count(*) from private.claim_email_batch('tests', 100) as c where c.email_campaign_id = claimable.id
$$;

select tests.authenticate_as('alice');
update public.campaigns set status = 'paused' where id = (select spring from tests.ids);
select tests.clear_authentication();
select is(tests.status(sending), 'paused', 'pausing a campaign pauses its sending email campaign') from tests.ids;
select is(tests.status(scheduled), 'scheduled', 'its scheduled one stays scheduled') from tests.ids;
select is(tests.status(bystander), 'sending', 'another campaign''s send goes on') from tests.ids;
select is(tests.claimable(sending), 0::bigint, 'the claim gets none of the paused campaign''s deliveries') from tests.ids;

-- The scheduled one comes due while the campaign is paused: it starts, and pauses at once.
update public.email_campaigns set status = 'sending' where id = (select scheduled from tests.ids);
select is(tests.status(scheduled), 'paused', 'an email campaign starting under a paused campaign pauses at once') from tests.ids;
select tests.authenticate_as('alice');
update public.email_campaigns set status = 'sending' where id = (select sending from tests.ids);
select tests.clear_authentication();
select is(tests.status(sending), 'paused', 'resuming it by hand while the campaign is paused does not send') from tests.ids;

select tests.authenticate_as('alice');
update public.campaigns set status = 'active' where id = (select spring from tests.ids);
select tests.clear_authentication();
select is(tests.status(sending), 'sending', 'making the campaign active again resumes its email campaigns') from tests.ids;
select is(tests.claimable(sending), 3::bigint, 'and the claim gets their deliveries') from tests.ids;

-- A new scheduled send, then the campaign completes.
alter table tests.ids add column later uuid;
update tests.ids set later = tests.email_campaign(spring, 'scheduled');
select tests.authenticate_as('alice');
update public.campaigns set status = 'completed' where id = (select spring from tests.ids);
select tests.clear_authentication();
select is(tests.status(scheduled), 'cancelled', 'completing a campaign cancels its sending email campaigns') from tests.ids;
select is(tests.status(later), 'draft', 'and takes its scheduled ones back to draft: nothing new is sent') from tests.ids;
select is((select count(*)::int from private.email_queue as q, tests.ids
           where q.email_campaign_id in (ids.sending, ids.scheduled) and (q.lease_until is null or q.lease_until <= now())), 0,
  'their unclaimed deliveries leave the queue (a worker''s leased chunk is settled by the worker, as for any cancel)');
select is(tests.status(bystander), 'sending', 'another campaign''s send is untouched') from tests.ids;

select * from finish();
rollback;
