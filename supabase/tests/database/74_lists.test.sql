-- Subscription lists (migration lists): owner-only lists and memberships (RLS, a member's
-- lead and list are the owner's), {"list": id} in recipient_list (checked with paths, the
-- list must be the owner's), and fan-out to the members who have not left, subscribed only.
begin;
\ir _helpers.psql

select plan(21);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

select tests.authenticate_as('alice');
insert into public.lists (name) values ('Newsletter'), ('Product updates');
insert into public.leads (email, tags, subscription_status)
values ('stay@acme.com', '{}', 'subscribed'), ('left@acme.com', '{}', 'subscribed'),
       ('pending@acme.com', '{}', 'unconfirmed'), ('both@acme.com', '{vip}', 'subscribed'),
       ('other@acme.com', '{}', 'subscribed');
insert into public.list_memberships (list_id, lead_id)
select li.id, l.id
from public.lists as li, public.leads as l
where li.name = 'Newsletter' and l.email in ('stay@acme.com', 'left@acme.com', 'pending@acme.com', 'both@acme.com');
insert into public.list_memberships (list_id, lead_id)
select li.id, l.id from public.lists as li, public.leads as l
where li.name = 'Product updates' and l.email = 'other@acme.com';
update public.list_memberships set unsubscribed_at = now()
where lead_id = (select id from public.leads where email = 'left@acme.com');

select is((select count(*)::integer from public.list_memberships), 5, 'alice sees her memberships');
select throws_ok($$insert into public.lists (name) values ('Newsletter')$$, '23505', null,
  'a list name is unique per owner');
select throws_ok($$insert into public.lists (name) values ('  ')$$, '23514', null, 'a list needs a name');
select throws_ok($$update public.list_memberships set subscribed_at = now()$$, '42501', null,
  'subscribed_at is the system''s');

select tests.clear_authentication();
create table tests.ids as
select (select id from public.lists where name = 'Newsletter') as news,
       (select id from public.lists where name = 'Product updates') as product,
       (select id from public.leads where email = 'stay@acme.com') as stay;
grant select on tests.ids to authenticated;

-- ==== mallory ====
select tests.authenticate_as('mallory');
select is((select count(*)::integer from public.lists), 0, 'mallory sees none of alice''s lists');
select is((select count(*)::integer from public.list_memberships), 0, 'nor her memberships');
select tests.affects($$update public.lists set name = 'Mine' returning 1$$, 0, 'nor renames them');
insert into public.leads (email) values ('m@evil.example');
insert into public.lists (name) values ('Mine');
select throws_ok(
  $$insert into public.list_memberships (list_id, lead_id) select id, (select stay from tests.ids) from public.lists$$,
  '42501', null, 'mallory cannot put alice''s lead on her list');
select throws_ok(
  $$insert into public.list_memberships (list_id, lead_id)
    select (select news from tests.ids), id from public.leads$$,
  '23503', null, 'nor her lead on alice''s list');
select throws_ok(
  format($$insert into public.email_campaigns (subject, content, recipient_list) values ('s', 'c', '[{"list": "%s"}]')$$,
         (select news from tests.ids)),
  '23514', format('recipient_list[0].list: you have no list "%s"', (select news from tests.ids)),
  'nor send to alice''s list');

-- ==== the grammar ====
select tests.clear_authentication();
select is(private.recipient_list_problem(x.list), x.problem, x.problem)
from (values
  ('[{"list": "nope"}]'::jsonb, 'recipient_list[0].list: "nope" is not a list id (a uuid)'),
  ('[{"list": 7}]', 'recipient_list[0].list: 7 is not a list id (a uuid)'),
  ('["a@acme.com", {"list": "00000000-0000-4000-8000-000000000000", "tags": []}]',
   'recipient_list[1]: unknown key "tags"; a list entry has only "list"'),
  ('[{"first_name": "Ada"}]',
   'recipient_list[0]: needs "email" (a recipient), "leads" (a lead selector) or "list" (a subscription list)')
) as x (list, problem);
select is(private.recipient_list_problem('[{"list": "00000000-0000-4000-8000-000000000000"}]'), null,
  'a list entry is well-formed');

-- ==== fan-out ====
select tests.authenticate_as('alice');
select lives_ok(
  format($$insert into public.email_campaigns (subject, content, recipient_list) values ('s', 'c', '[{"list": "%s"}, {"leads": {"tags": ["vip"]}}]')$$,
         (select news from tests.ids)),
  'alice saves a campaign to her list');
select tests.clear_authentication();
select results_eq(
  format($$select r.email from private.resolve_email_recipients(tests.get_user_id('alice'), '[{"list": "%s"}, {"leads": {"tags": ["vip"]}}]') as r order by r.email$$,
         (select news from tests.ids)),
  $$values ('both@acme.com'), ('stay@acme.com')$$,
  'a list resolves to its members who have not left and are subscribed, once each with selectors');
select results_eq(
  format($$select r.email from private.resolve_email_recipients(tests.get_user_id('alice'), '[{"list": "%s"}, {"list": "%s"}]') as r order by r.email$$,
         (select news from tests.ids), (select product from tests.ids)),
  $$values ('both@acme.com'), ('other@acme.com'), ('stay@acme.com')$$,
  'two lists resolve to their members together');
select is(
  (select count(*)::integer from private.resolve_email_recipients(tests.get_user_id('mallory'),
     format('[{"list": "%s"}]', (select news from tests.ids))::jsonb)),
  0, 'another owner''s list resolves to nobody, whatever reached the table');

-- ==== deletes ====
delete from public.leads where email = 'stay@acme.com';
select is((select count(*)::integer from public.list_memberships where list_id = (select news from tests.ids)), 3,
  'a deleted lead leaves its lists');
delete from public.lists where name = 'Newsletter';
select is((select count(*)::integer from public.list_memberships where user_id = tests.get_user_id('alice')), 1,
  'a deleted list takes its memberships');

select * from finish();
rollback;
