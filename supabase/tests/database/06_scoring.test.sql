-- Lead scoring, the seed's rules: a company is worth 10 points, a phone number 5.
-- calculate_lead_score(lead_id) computes it for a lead the caller can see (P0002
-- otherwise), and for a user without scoring rules of their own (40_scoring_* test those)
-- leads.score always equals it, whoever writes the row and how.
begin;
\ir _helpers.psql

select plan(21);

do $$
begin
  perform tests.create_user('alice');
  perform tests.create_user('mallory');
end;
$$;

select function_returns('public', 'calculate_lead_score', array['uuid'], 'integer',
  'calculate_lead_score(uuid) returns integer');
select volatility_is('public', 'calculate_lead_score', array['uuid'], 'stable',
  'calculate_lead_score is stable');
select isnt_definer('public', 'calculate_lead_score', array['uuid'],
  'calculate_lead_score runs as its caller, so RLS decides which leads it sees');
select volatility_is('public', 'lead_profile_score', array['leads'], 'immutable',
  'lead_profile_score(leads) holds the rule over a row, immutable (no table access)');
select is(
  (select pg_get_triggerdef(oid) from pg_trigger
   where tgrelid = 'public.leads'::regclass and tgname = 'set_lead_score'),
  'CREATE TRIGGER set_lead_score BEFORE INSERT OR UPDATE ON public.leads FOR EACH ROW WHEN ((current_setting(''beacon.rescoring''::text, true) IS DISTINCT FROM ''on''::text)) EXECUTE FUNCTION private.set_lead_score()',
  'leads has the set_lead_score trigger, before insert or update, per row'
);

-- The seed's four cases, stored by postgres, scored by the trigger and by the function.
create table tests.cases (name text, company text, phone text, expected integer, id uuid);
insert into tests.cases (name, company, phone, expected) values
  ('neither company nor phone', null, null, 0),
  ('a company', 'Acme', null, 10),
  ('a phone', null, '+1 555 0100', 5),
  ('company and phone', 'Acme', '+1 555 0100', 15);
update tests.cases
set id = tests.insert_row('leads', 'alice', jsonb_build_object('company', company, 'phone', phone));
grant select on tests.cases to authenticated;

select is(
  (select score from public.leads where id = c.id),
  c.expected,
  format('a lead with %s is stored with score %s', c.name, c.expected)
)
from tests.cases as c
order by c.expected;

-- As alice ---------------------------------------------------------------------------------
select tests.authenticate_as('alice');

select is(
  calculate_lead_score(c.id),
  c.expected,
  format('calculate_lead_score of a lead with %s is %s', c.name, c.expected)
)
from tests.cases as c
order by c.expected;

-- As the app writes them.
insert into public.leads (email, company, phone) values ('app@example.test', 'Acme', '555 0101');
select is((select score from public.leads where email = 'app@example.test'), 15,
  'a lead alice inserts with company and phone scores 15');
update public.leads set phone = null where email = 'app@example.test';
select is((select score from public.leads where email = 'app@example.test'), 10,
  'alice removes the phone: the score drops to 10');
update public.leads set company = null, phone = '555 0102' where email = 'app@example.test';
select is((select score from public.leads where email = 'app@example.test'), 5,
  'alice swaps the company for a phone: the score becomes 5');

select throws_ok(
  format('select calculate_lead_score(%L)', '00000000-0000-0000-0000-000000000000'),
  'P0002',
  'lead 00000000-0000-0000-0000-000000000000 not found',
  'calculate_lead_score of an unknown lead raises P0002'
);

-- As mallory -------------------------------------------------------------------------------
select tests.authenticate_as('mallory');
select throws_ok(
  format('select calculate_lead_score(%L)', (select id from tests.cases where expected = 15)),
  'P0002',
  format('lead %s not found', (select id from tests.cases where expected = 15)),
  'calculate_lead_score of another user''s lead raises P0002, as if it did not exist'
);

-- As the service, then as postgres: whoever writes the column, the trigger has the last word.
select tests.authenticate_as_service_role();
update public.leads set score = 99 where email = 'app@example.test';
select is((select score from public.leads where email = 'app@example.test'), 5,
  'a score written by the service is replaced by the computed one');

select tests.clear_authentication();
insert into public.leads (user_id, email, company, score)
select tests.get_user_id('mallory'), 'bulk' || i || '@example.test', 'Acme', 999
from generate_series(1, 3) as i;
select is(
  (select array_agg(score) from public.leads where email like 'bulk%'),
  array[10, 10, 10],
  'a bulk import that sets score gets the computed scores'
);

select is_empty(
  format($$select id from public.leads
    where user_id in (%L, %L) and score is distinct from public.calculate_lead_score(id)$$,
    tests.get_user_id('alice'), tests.get_user_id('mallory')),
  'every lead of alice''s and mallory''s (no rules of their own) scores calculate_lead_score'
);

select * from finish();
rollback;
