-- Event collection: write keys (made and shown once, stored as SHA-256 digests, revoked at
-- once and for good, owner-only, the digest and system columns out of clients' reach) and
-- private.collect_events (the collect function's one call): identifies create and link
-- leads, a visitor's earlier events are attributed, then scored by the owner's engagement
-- rules and matched by event workflows; message ids make resends idempotent.
begin;
\ir _helpers.psql

select plan(38);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

create table tests.keys (owner text, id uuid, key text, key_prefix text);
grant all on tests.keys to authenticated;

-- ==== acting as alice ====
select tests.authenticate_as('alice');

insert into tests.keys select 'alice', k.* from public.create_write_key('marketing site') as k;
select matches((select key from tests.keys), '^bk_pub_[0-9a-f]{48}$', 'create_write_key returns a bk_pub_ key with 192 random bits');
select is((select key_prefix from tests.keys), (select left(key, 15) from tests.keys), 'and its prefix');
select results_eq(
  $$select name, key_prefix, last_used_at, revoked_at from public.write_keys$$,
  $$select 'marketing site'::text, key_prefix, null::timestamptz, null::timestamptz from tests.keys$$,
  'alice lists her key: name, prefix, never used, not revoked');
select throws_ok('select key_hash from public.write_keys', '42501', null, 'alice cannot read the digest');
select throws_ok($$insert into public.write_keys (name, key_hash) values ('mine', '\x00')$$, '42501', null,
  'nor write a digest');
select throws_ok($$update public.write_keys set key_prefix = 'bk_pub_00000000'$$, '42501', null, 'nor the prefix');
select throws_ok($$update public.write_keys set last_used_at = now()$$, '42501', null, 'nor last_used_at');
select lives_ok($$update public.write_keys set name = 'main site'$$, 'she renames her key');
select throws_ok($$select public.create_write_key('  ')$$, '22023',
  'create_write_key: name must be 1 to 200 characters, not blank (e.g. ''marketing site'')', 'a blank name is refused');
select throws_ok('select private.write_key_owner(null)', '42501', null, 'the lookup is not hers to call');
select tests.clear_authentication();

select is((select w.key_hash from public.write_keys as w join tests.keys as k on k.id = w.id), (select sha256(convert_to(key, 'UTF8')) from tests.keys),
  'the key is stored as its SHA-256 digest');
select is((select count(*)::integer from public.write_keys as w, tests.keys as k
           where row_to_json(w)::text like '%' || substr(k.key, 16) || '%'), 0, 'and nowhere in plain text');
select is(private.write_key_owner((select key from tests.keys)), tests.get_user_id('alice'),
  'the key names its owner');
select isnt((select w.last_used_at from public.write_keys as w join tests.keys as k on k.id = w.id), null,
  'and its use is noted');
select is(private.write_key_owner('bk_pub_' || repeat('0', 48)), null, 'an unknown key names nobody');

-- ==== acting as mallory ====
select tests.authenticate_as('mallory');
select is((select count(*)::integer from public.write_keys), 0, 'mallory does not see alice''s key');
select throws_ok(format('select public.revoke_write_key(%L)', (select id from tests.keys)), 'P0002',
  'revoke_write_key: no such write key among yours; list them with select on write_keys',
  'nor revoke it');
select throws_ok(format('select public.revoke_write_key(%L)', gen_random_uuid()), 'P0002',
  'revoke_write_key: no such write key among yours; list them with select on write_keys',
  'the same answer as for a key that does not exist');

-- ==== acting as a visitor without a session ====
select tests.authenticate_as_anon();
select throws_ok($$select public.create_write_key('x')$$, '42501', null, 'anon cannot create keys');

-- ==== collecting, as the collect function does ====
select tests.clear_authentication();
insert into public.scoring_rules (user_id, name, condition, points)
values (tests.get_user_id('alice'), 'pricing', '{"type": "event", "event_type": "page", "properties": {"path": "/pricing"}}', 5);
select tests.insert_row('workflows', 'alice', jsonb_build_object('name', 'pricing visit',
  'trigger_config', '{"type": "event", "event_type": "page", "properties": {"path": "/pricing"}}'::jsonb,
  'action_config', '{"steps": [{"type": "add_tag", "tag": "pricing"}]}'::jsonb));

select is(
  private.collect_events((select key from tests.keys), '[
    {"type": "page", "properties": {"path": "/pricing", "utm_source": "ads"}, "anonymous_id": "v1", "message_id": "m1"},
    {"type": "page", "properties": {"path": "/pricing"}, "anonymous_id": "v1", "message_id": "m1"}
  ]', '192.0.2.10', 'UA', false),
  '{"accepted": 2, "duplicates": 1, "dropped": 0, "honor_privacy_signals": false}',
  'a batch is recorded once per message id');
select is((select count(*)::integer from public.workflow_executions where user_id = tests.get_user_id('alice')), 1,
  'the anonymous view starts the event workflow, about no lead');

select lives_ok($$select private.collect_events((select key from tests.keys),
  '[{"type": "identify", "email": "ada@acme.com", "anonymous_id": "v1", "properties": {"first_name": "Ada"}}]',
  null, null, false)$$, 'ada identifies');
select results_eq(
  $$select source, first_name, custom_fields -> 'first_touch' ->> 'utm_source', score from public.leads where email = 'ada@acme.com' and user_id = tests.get_user_id('alice')$$,
  $$values ('website'::text, 'Ada'::text, 'ads'::text, 5)$$,
  'her lead is created from the website, with its first touch, and scored for the earlier view');
select is((select properties ->> 'lead_id' from public.analytics_events where message_id = 'm1'),
  (select id::text from public.leads where email = 'ada@acme.com' and user_id = tests.get_user_id('alice')), 'the earlier view now names her');
select is(
  (select array_agg(e.trigger_data ->> 'lead_id' order by e.trigger_data ->> 'lead_id' nulls first)
   from public.workflow_executions as e
   where e.user_id = tests.get_user_id('alice')),
  array[null, (select id::text from public.leads where email = 'ada@acme.com' and user_id = tests.get_user_id('alice'))],
  'and the event workflow fires again, on her, when the view becomes hers');

select lives_ok($$select private.collect_events((select key from tests.keys),
  '[{"type": "page", "properties": {"path": "/pricing"}, "anonymous_id": "v1"}]', null, null, false)$$,
  'she views the pricing page again');
select is((select score from public.leads where email = 'ada@acme.com' and user_id = tests.get_user_id('alice')), 10,
  'a later view of a known visitor names her at insert and scores');
select is((select count(*)::integer from private.visitor_identities where user_id = tests.get_user_id('alice')), 1, 'one link, visitor to lead');

-- An identify may name the lead by id (an app that knows it), never another owner's lead.
select lives_ok(format($$select private.collect_events((select key from tests.keys), %L, null, null, false)$$,
  format('[{"type": "page", "properties": {"path": "/docs"}, "anonymous_id": "v2", "message_id": "v2-view"},
           {"type": "identify", "lead_id": "%s", "anonymous_id": "v2"}]',
         (select id from public.leads where email = 'ada@acme.com' and user_id = tests.get_user_id('alice')))),
  'her second device identifies by lead id');
select is((select properties ->> 'lead_id' from public.analytics_events where message_id = 'v2-view'),
  (select id::text from public.leads where email = 'ada@acme.com' and user_id = tests.get_user_id('alice')),
  'its view, in the same batch, names her');
insert into public.leads (user_id, email) values (tests.get_user_id('mallory'), 'eve@mallory.example');
select lives_ok(format($$select private.collect_events((select key from tests.keys), %L, null, null, false)$$,
  format('[{"type": "identify", "lead_id": "%s", "anonymous_id": "v3"}]',
         (select id from public.leads where email = 'eve@mallory.example'))),
  'an identify naming mallory''s lead is taken');
select is((select count(*)::integer from private.visitor_identities where anonymous_id in ('v2', 'v3')), 1,
  'but links only alice''s own lead');

insert into public.collect_settings (user_id, honor_privacy_signals, truncate_ip)
values (tests.get_user_id('alice'), true, true);
select is(
  private.collect_events((select key from tests.keys), '[{"type": "page"}]', '192.0.2.10', null, true),
  '{"accepted": 0, "duplicates": 0, "dropped": 1, "honor_privacy_signals": true}',
  'with honor_privacy_signals, a Do-Not-Track request records nothing');
select lives_ok($$select private.collect_events((select key from tests.keys),
  '[{"type": "page", "message_id": "ip"}]', '2001:db8:1234:5678::1', null, false)$$, 'an IPv6 visitor');
select is((select host(ip_address) from public.analytics_events where message_id = 'ip'), '2001:db8:1234::',
  'is stored truncated to /48 when the owner asks');

-- ==== acting as alice, revoking ====
select tests.authenticate_as('alice');
select isnt(public.revoke_write_key((select id from tests.keys)), null, 'alice revokes her key');
update public.write_keys set revoked_at = null;
select isnt((select revoked_at from public.write_keys), null, 'a revoked key cannot be revived');
select tests.clear_authentication();
select throws_ok($$select private.collect_events((select key from tests.keys), '[{"type": "page"}]', null, null, false)$$,
  '28000', 'collect: the write key is unknown or revoked', 'a revoked key stops working at once');

select * from finish();
rollback;
