-- Signup forms and consent records. A form (owner-managed) says which fields a public post may
-- set on the lead, the tags and lists it joins, whether a double opt-in is required, the
-- consent text (and its version) the visitor agrees to, and where the browser goes after
-- (success_url) and after confirming (confirm_url). The forms function (public) posts to
-- private.submit_form, which upserts the lead by email_normalized and records the consent.

create table public.forms (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  name text not null check (name ~ '\S' and length(name) <= 200),
  fields text[] not null default '{}'
    check (cardinality(fields) <= 50
           and array_position(fields, null) is null
           and array_to_string(fields, ',') ~ '^([a-z][a-z0-9_]{0,62}(,|$))*$'
           and not 'email' = any (fields)),
  tags text[] not null default '{}'
    check (cardinality(tags) <= 20 and array_position(tags, null) is null),
  list_ids uuid[] not null default '{}'
    check (cardinality(list_ids) <= 20 and array_position(list_ids, null) is null),
  double_opt_in boolean not null default false,
  consent_purpose text not null default 'email_marketing'
    check (consent_purpose ~ '^[a-z][a-z0-9_]{0,62}$'),
  consent_text text check (consent_text ~ '\S' and length(consent_text) <= 5000),
  consent_version text check (length(consent_version) between 1 and 100),
  success_url text,
  confirm_url text,
  is_active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- The URL shape the redirect allow-list code accepts (see _shared/redirects.ts): http(s),
  -- no credentials, whitespace, control characters or backslashes; https except on localhost.
  constraint forms_success_url_check check (
    length(success_url) <= 2048
    and success_url ~ '^(https://|http://(localhost|127\.0\.0\.1)(:[0-9]+)?(/|$))[^@[:space:][:cntrl:]\\]*$'),
  constraint forms_confirm_url_check check (
    length(confirm_url) <= 2048
    and confirm_url ~ '^(https://|http://(localhost|127\.0\.0\.1)(:[0-9]+)?(/|$))[^@[:space:][:cntrl:]\\]*$')
);
comment on table public.forms is
  'Signup forms posted to POST /functions/v1/forms/{id}: accepted fields (beyond email), tags and lists to join, double opt-in, consent text and version, redirect URLs.';
comment on column public.forms.fields is
  'The form fields a post may set besides email: first_name, last_name, company, phone go to the lead, any other name to its custom_fields; the rest are ignored.';
comment on column public.forms.list_ids is 'Lists (of the owner) the lead joins.';
comment on column public.forms.double_opt_in is
  'The lead stays unconfirmed (no campaign email) until it follows the link of the confirmation email.';

create index forms_user_id_created_at_idx on public.forms (user_id, created_at desc);

create trigger set_updated_at
before update on public.forms
for each row execute function private.set_updated_at();

select private.secure_tenant_table('public.forms');
grant select, delete on table public.forms to authenticated;
grant insert (id, user_id, name, fields, tags, list_ids, double_opt_in, consent_purpose, consent_text,
              consent_version, success_url, confirm_url, is_active)
  on table public.forms to authenticated;
grant update (name, fields, tags, list_ids, double_opt_in, consent_purpose, consent_text, consent_version,
              success_url, confirm_url, is_active)
  on table public.forms to authenticated;

-- Security invoker: the owner sees (RLS) exactly the lists a form of theirs may name.
create function private.check_form_lists()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  missing uuid;
begin
  select x.id
  into missing
  from unnest(new.list_ids) with ordinality as x (id, n)
  where not exists (select from public.lists as l where l.id = x.id and l.user_id = new.user_id)
  order by x.n
  limit 1;
  if missing is not null then
    raise exception using
      errcode = 'foreign_key_violation',
      message = format('list_ids: you have no list %s', missing),
      hint = 'Create the list first (public.lists) and use its id.';
  end if;
  return new;
end;
$$;
comment on function private.check_form_lists() is
  'Trigger (before insert or update of list_ids on forms): every list a form joins is its owner''s.';
revoke all on function private.check_form_lists() from public, anon, authenticated, service_role;

create trigger check_form_lists
before insert or update of list_ids, user_id on public.forms
for each row execute function private.check_form_lists();

create table public.consents (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  lead_id uuid not null references public.leads (id) on delete cascade,
  form_id uuid references public.forms (id) on delete set null,
  purpose text not null check (length(purpose) <= 100),
  consent_text text check (length(consent_text) <= 5000),
  consent_version text check (length(consent_version) <= 100),
  ip_address inet,
  user_agent text check (length(user_agent) <= 1000),
  created_at timestamptz not null default now()
);
comment on table public.consents is
  'What a lead agreed to, when and how: purpose, the consent text and version shown, the form, IP address and user agent. Written by the system (forms), read by owners.';

create index consents_user_id_created_at_idx on public.consents (user_id, created_at desc);
create index consents_lead_id_idx on public.consents (lead_id);
create index consents_form_id_idx on public.consents (form_id) where form_id is not null;

select private.secure_tenant_table('public.consents');
-- Evidence: owners read it; only the system writes it (and a lead's deletion removes it).
grant select on table public.consents to authenticated;

-- The public post of a form, after the forms function has checked the request (rate limits,
-- honeypot, Turnstile, field shapes): upserts the lead by (user_id, email_normalized) with
-- the accepted fields (tags and custom fields merged, other values replaced only when given),
-- joins the form's lists, records the consent when the form has a consent text, and sets the
-- subscription: a new lead is subscribed, or unconfirmed under double opt-in; an unconfirmed
-- one is subscribed by a single opt-in form; an unsubscribed one stays unsubscribed unless it
-- opts in again under double opt-in and its address is not suppressed (then it is unconfirmed
-- until it confirms).
create function private.submit_form(
  form_id uuid,
  email text,
  lead_fields jsonb,
  custom_fields jsonb,
  client_ip inet,
  client_user_agent text
)
returns table (lead_id uuid, subscription_status text, needs_confirmation boolean)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  form public.forms;
  lead public.leads;
begin
  select f.* into form from public.forms as f where f.id = submit_form.form_id and f.is_active;
  if not found then
    raise exception using errcode = 'no_data_found', message = 'form: no such form, or it is inactive';
  end if;

  insert into public.leads as l (
    user_id, email, first_name, last_name, company, phone, source, tags, custom_fields, subscription_status
  )
  values (
    form.user_id,
    btrim(submit_form.email),
    lead_fields ->> 'first_name',
    lead_fields ->> 'last_name',
    lead_fields ->> 'company',
    lead_fields ->> 'phone',
    left('form: ' || form.name, 200),
    form.tags,
    coalesce(submit_form.custom_fields, '{}'),
    case when form.double_opt_in then 'unconfirmed' else 'subscribed' end
  )
  on conflict (user_id, email_normalized) do update
  set first_name = coalesce(excluded.first_name, l.first_name),
      last_name = coalesce(excluded.last_name, l.last_name),
      company = coalesce(excluded.company, l.company),
      phone = coalesce(excluded.phone, l.phone),
      tags = array(select distinct t from unnest(l.tags || excluded.tags) as t order by t),
      custom_fields = l.custom_fields || excluded.custom_fields,
      subscription_status = case
        when l.subscription_status = 'subscribed' then 'subscribed'
        when form.double_opt_in then 'unconfirmed'
        when l.subscription_status = 'unconfirmed' then 'subscribed'
        else l.subscription_status
      end
  returning l.* into lead;

  insert into public.list_memberships as m (user_id, list_id, lead_id)
  select form.user_id, x.id, lead.id
  from unnest(form.list_ids) as x (id)
  join public.lists as li on li.id = x.id and li.user_id = form.user_id
  on conflict (list_id, lead_id) do update
  set unsubscribed_at = null, subscribed_at = now()
  where m.unsubscribed_at is not null;

  if form.consent_text is not null then
    insert into public.consents (
      user_id, lead_id, form_id, purpose, consent_text, consent_version, ip_address, user_agent
    )
    values (
      form.user_id, lead.id, form.id, form.consent_purpose, form.consent_text, form.consent_version,
      client_ip, left(client_user_agent, 1000)
    );
  end if;

  return query select lead.id, lead.subscription_status, lead.subscription_status = 'unconfirmed';
end;
$$;
comment on function private.submit_form(uuid, text, jsonb, jsonb, inet, text) is
  'A public post of a form (checked by the forms function): upserts the lead by email_normalized, joins the form''s lists, records the consent, sets the subscription (unconfirmed under double opt-in).';
revoke all on function private.submit_form(uuid, text, jsonb, jsonb, inet, text)
  from public, anon, authenticated, service_role;
