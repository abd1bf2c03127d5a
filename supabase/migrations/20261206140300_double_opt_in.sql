-- Double opt-in. A form with double_opt_in leaves a new lead unconfirmed; the forms function
-- then sends it a confirmation email through the email pipeline: a one-recipient email
-- campaign whose purpose is 'confirmation' and whose recipient list is {"confirm": lead id}
-- (an entry only the system writes, that resolves to the lead while it is unconfirmed, so
-- fan-out's suppression check and the dispatcher's Resend or outbox path apply as to any
-- campaign). Following the signed, expiring link confirms: the lead is subscribed and the
-- confirmation is recorded as a consent. Posting the form again re-sends the email (at most
-- one every 5 minutes). A lead unconfirmed since it was created is deleted after 30 days by
-- the cron job beacon-expire-unconfirmed-leads, owner by owner.

alter table public.email_campaigns
  add column purpose text not null default 'marketing'
    constraint email_campaigns_purpose_check check (purpose in ('marketing', 'confirmation'));
comment on column public.email_campaigns.purpose is
  'marketing (the default: only subscribed leads receive it) or confirmation (a double opt-in email the system sends to an unconfirmed lead; not writable by clients).';

alter table public.forms
  add column confirm_subject text not null default 'Please confirm your subscription'
    check (confirm_subject ~ '\S' and length(confirm_subject) <= 998),
  add column confirm_body text not null default
    '<p>Hi {{first_name|there}},</p><p>please confirm that you want our emails: '
    '<a href="{{confirm_url}}">confirm my subscription</a>.</p>'
    '<p>If you did not sign up, ignore this email: you will not hear from us again.</p>'
    check (length(confirm_body) <= 100000 and strpos(confirm_body, '{{confirm_url}}') > 0);
comment on column public.forms.confirm_subject is 'Subject of the double opt-in confirmation email.';
comment on column public.forms.confirm_body is
  'HTML of the double opt-in confirmation email; must contain {{confirm_url}} (the signed confirm link). Merge tags as in campaigns.';
grant insert (confirm_subject, confirm_body), update (confirm_subject, confirm_body)
  on table public.forms to authenticated;

-- private.recipient_list_problem, private.check_recipient_list and
-- private.resolve_email_recipients as 20261206140100_lists.sql defined them, with
-- {"confirm": lead id} (the commented pieces).
create or replace function private.recipient_list_problem(recipient_list jsonb)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  email_pattern constant text := '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$';
  uuid_pattern constant text := '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
  lead_statuses constant text[] := array['new', 'qualified', 'contacted', 'converted', 'lost'];
  problem text;
begin
  if jsonb_typeof(recipient_list) is distinct from 'array' then
    return format('recipient_list: expected an array of recipients and lead selectors, not %s',
                  coalesce(left(recipient_list::text, 100), 'nothing'));
  end if;

  -- coalesce() stops at the first non-null argument, so each check may assume the ones
  -- before it passed.
  select p.problem
  into problem
  from jsonb_array_elements(recipient_list_problem.recipient_list) with ordinality as e (entry, n)
  cross join lateral (select format('recipient_list[%s]', e.n - 1) as at, e.entry -> 'leads' as selector) as a
  cross join lateral (
    select coalesce(
      case when jsonb_typeof(e.entry) not in ('object', 'string') then
        format('%s: expected a recipient such as {"email": "ada@example.com"} or a lead selector such as '
               '{"leads": {"tags": ["vip"]}}, not %s', a.at, e.entry)
      end,
      case when jsonb_typeof(e.entry) = 'string' then
        case when e.entry #>> '{}' !~ email_pattern or length(e.entry #>> '{}') > 320 then
          format('%s: %s is not an email address', a.at, e.entry)
        end
      end,
      case when jsonb_typeof(e.entry) = 'string' then '' end,
      -- A confirmation (double opt-in): {"confirm": lead id}, written by the system only (see
      -- private.check_recipient_list).
      (select format('%s: unknown key "%s"; a confirmation entry has only "confirm"', a.at, k)
       from jsonb_object_keys(e.entry) as k
       where e.entry ? 'confirm' and k <> 'confirm'
       order by k
       limit 1),
      case when e.entry ? 'confirm'
                and (jsonb_typeof(e.entry -> 'confirm') <> 'string' or lower(e.entry ->> 'confirm') !~ uuid_pattern) then
        format('%s.confirm: %s is not a lead id (a uuid)', a.at, e.entry -> 'confirm')
      end,
      case when e.entry ? 'confirm' then '' end,
      case when not (e.entry ? 'email' or e.entry ? 'leads' or e.entry ? 'list') then
        format('%s: needs "email" (a recipient), "leads" (a lead selector) or "list" (a subscription list)', a.at)
      end,
      -- A subscription list: {"list": id}. That it is the owner's is checked on save
      -- (private.check_recipient_list), which knows the owner.
      (select format('%s: unknown key "%s"; a list entry has only "list"', a.at, k)
       from jsonb_object_keys(e.entry) as k
       where e.entry ? 'list' and k <> 'list'
       order by k
       limit 1),
      case when e.entry ? 'list'
                and (jsonb_typeof(e.entry -> 'list') <> 'string' or lower(e.entry ->> 'list') !~ uuid_pattern) then
        format('%s.list: %s is not a list id (a uuid)', a.at, e.entry -> 'list')
      end,
      case when e.entry ? 'list' then '' end,
      -- A lead selector.
      (select format('%s: unknown key "%s"; a lead selector has only "leads"', a.at, k)
       from jsonb_object_keys(e.entry) as k
       where e.entry ? 'leads' and k <> 'leads'
       order by k
       limit 1),
      case when e.entry ? 'leads' and jsonb_typeof(a.selector) <> 'object' then
        format('%s.leads: expected an object such as {"tags": ["vip"]}, not %s', a.at, a.selector)
      end,
      (select format('%s.leads: unknown key "%s"; a lead selector takes ids, tags, statuses and min_score',
                     a.at, k)
       from jsonb_object_keys(a.selector) as k
       where k not in ('ids', 'tags', 'statuses', 'min_score')
       order by k
       limit 1),
      case when jsonb_typeof(a.selector -> 'ids') <> 'array' then
        format('%s.leads.ids: expected an array of lead ids, not %s', a.at, a.selector -> 'ids')
      end,
      (select format('%s.leads.ids[%s]: %s is not a lead id (a uuid)', a.at, x.i - 1, x.v)
       from jsonb_array_elements(a.selector -> 'ids') with ordinality as x (v, i)
       where jsonb_typeof(x.v) <> 'string' or lower(x.v #>> '{}') !~ uuid_pattern
       order by x.i
       limit 1),
      case when jsonb_typeof(a.selector -> 'tags') <> 'array' then
        format('%s.leads.tags: expected an array of tags, not %s', a.at, a.selector -> 'tags')
      end,
      (select format('%s.leads.tags[%s]: expected a tag (a string), not %s', a.at, x.i - 1, x.v)
       from jsonb_array_elements(a.selector -> 'tags') with ordinality as x (v, i)
       where jsonb_typeof(x.v) <> 'string'
       order by x.i
       limit 1),
      case when jsonb_typeof(a.selector -> 'statuses') <> 'array' then
        format('%s.leads.statuses: expected an array of lead statuses, not %s', a.at, a.selector -> 'statuses')
      end,
      (select format('%s.leads.statuses[%s]: %s is not a lead status (%s)', a.at, x.i - 1, x.v,
                     array_to_string(lead_statuses, ', '))
       from jsonb_array_elements(a.selector -> 'statuses') with ordinality as x (v, i)
       where jsonb_typeof(x.v) <> 'string' or x.v #>> '{}' <> all (lead_statuses)
       order by x.i
       limit 1),
      case when a.selector ? 'min_score' then
        private.jsonb_integer_problem(a.selector -> 'min_score', a.at || '.leads.min_score', -100000, 100000)
      end,
      case when e.entry ? 'leads' then '' end,
      -- A recipient.
      (select format('%s: unknown key "%s"; a recipient takes email, first_name, last_name and data', a.at, k)
       from jsonb_object_keys(e.entry) as k
       where k not in ('email', 'first_name', 'last_name', 'data')
       order by k
       limit 1),
      case when jsonb_typeof(e.entry -> 'email') <> 'string'
                or e.entry ->> 'email' !~ email_pattern
                or length(e.entry ->> 'email') > 320 then
        format('%s.email: %s is not an email address', a.at, e.entry -> 'email')
      end,
      (select format('%s.%s: expected a name of 1 to 200 characters or null, not %s', a.at, f, e.entry -> f)
       from unnest(array['first_name', 'last_name']) as f
       where jsonb_typeof(e.entry -> f) <> 'null'
         and (jsonb_typeof(e.entry -> f) <> 'string'
              or btrim(e.entry ->> f) = ''
              or length(e.entry ->> f) > 200)
       order by f
       limit 1),
      case when jsonb_typeof(e.entry -> 'data') <> 'object' then
        format('%s.data: expected an object of merge fields such as {"plan": "pro"}, not %s', a.at, e.entry -> 'data')
      end
    ) as problem
  ) as p
  where p.problem <> ''
  order by e.n
  limit 1;
  return problem;
end;
$$;

create or replace function private.check_recipient_list()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  problem text;
begin
  -- Not an array: left to email_campaigns_recipient_list_check.
  if jsonb_typeof(new.recipient_list) is distinct from 'array' then
    return new;
  end if;
  problem := private.recipient_list_problem(new.recipient_list);
  -- Confirmations: only in the system's confirmation campaigns.
  if problem is null and new.purpose <> 'confirmation' then
    select format('recipient_list[%s]: {"confirm": ...} is for confirmation emails only', e.n - 1)
    into problem
    from jsonb_array_elements(new.recipient_list) with ordinality as e (entry, n)
    where jsonb_typeof(e.entry) = 'object' and e.entry ? 'confirm'
    order by e.n
    limit 1;
  end if;
  -- Lists: the owner's own.
  if problem is null then
    select format('recipient_list[%s].list: you have no list %s', e.n - 1, e.entry -> 'list')
    into problem
    from jsonb_array_elements(new.recipient_list) with ordinality as e (entry, n)
    where jsonb_typeof(e.entry) = 'object'
      and e.entry ? 'list'
      and not exists (
        select
        from public.lists as l
        where l.user_id = new.user_id
          and l.id = (e.entry ->> 'list')::uuid)
    order by e.n
    limit 1;
  end if;
  if problem is not null then
    raise exception using
      errcode = 'check_violation',
      message = problem,
      hint = 'recipient_list is an array of {"email": ..., "first_name"?, "last_name"?, "data"?}, '
             '{"leads": {"ids"?, "tags"?, "statuses"?, "min_score"?}} and {"list": <id of one of your lists>}; '
             'entries are counted from 0.';
  end if;
  return new;
end;
$$;

create or replace function private.resolve_email_recipients(owner uuid, recipient_list jsonb)
returns table (email text, lead_id uuid, first_name text, last_name text, merge_data jsonb)
language sql
stable
set search_path = ''
as $$
  with entries as (
    select e.entry, e.n
    from jsonb_array_elements(recipient_list) with ordinality as e (entry, n)
  ),
  explicit as (
    select distinct on (lower(r.email))
      lower(r.email) as address, r.email, r.first_name, r.last_name, r.data
    from entries as e
    cross join lateral (
      select
        btrim(case when jsonb_typeof(e.entry) = 'string' then e.entry #>> '{}' else e.entry ->> 'email' end) as email,
        case when jsonb_typeof(e.entry) = 'object' then e.entry ->> 'first_name' end as first_name,
        case when jsonb_typeof(e.entry) = 'object' then e.entry ->> 'last_name' end as last_name,
        case when jsonb_typeof(e.entry) = 'object' then e.entry -> 'data' end as data
    ) as r
    where jsonb_typeof(e.entry) = 'string' or e.entry ? 'email'
    order by lower(r.email), e.n
  ),
  -- A criterion that is absent is null (matches every lead); an empty list matches none.
  selectors as (
    select
      case when s ? 'ids' then array(select x::uuid from jsonb_array_elements_text(s -> 'ids') as x) end as ids,
      case when s ? 'tags' then array(select x from jsonb_array_elements_text(s -> 'tags') as x) end as tags,
      case when s ? 'statuses' then array(select x from jsonb_array_elements_text(s -> 'statuses') as x) end
        as statuses,
      private.jsonb_integer(s -> 'min_score') as min_score
    from entries as e
    cross join lateral (select e.entry -> 'leads' as s) as sel
    where jsonb_typeof(e.entry) = 'object' and e.entry ? 'leads'
  ),
  -- The ids of the leads that lead selectors and lists pick.
  picked as (
    select l.id
    from public.leads as l
    where exists (select from selectors)
      and l.user_id = owner
      and exists (
        select
        from selectors as s
        where (s.ids is null or l.id = any (s.ids))
          and (s.tags is null or l.tags && s.tags)
          and (s.statuses is null or l.status = any (s.statuses))
          and (s.min_score is null or l.score >= s.min_score)
      )
    union
    -- Lists: the members of each {"list": id} who have not left it.
    select m.lead_id
    from public.list_memberships as m
    where m.user_id = owner
      and m.unsubscribed_at is null
      and m.list_id in (
        select (e.entry ->> 'list')::uuid
        from entries as e
        where jsonb_typeof(e.entry) = 'object' and e.entry ? 'list')
  ),
  selected as (
    select lower(l.email) as address, l.id, l.email, l.first_name, l.last_name, l.company, l.custom_fields
    from public.leads as l
    where l.user_id = owner
      and l.id in (select p.id from picked as p)
      -- Subscription: only subscribed leads receive campaign email. One whose address is
      -- suppressed stays, so that fan-out records its delivery as suppressed (as before).
      and (l.subscription_status = 'subscribed'
           or exists (
             select
             from public.email_suppressions as u
             where u.user_id = owner and lower(u.email) = l.email_normalized))
    union
    -- Confirmations (double opt-in): the lead a confirmation email asks, while unconfirmed.
    select lower(l.email) as address, l.id, l.email, l.first_name, l.last_name, l.company, l.custom_fields
    from public.leads as l
    where l.user_id = owner
      and l.subscription_status = 'unconfirmed'
      and l.id in (
        select (e.entry ->> 'confirm')::uuid
        from entries as e
        where jsonb_typeof(e.entry) = 'object' and e.entry ? 'confirm')
  ),
  -- Explicit entries with the owner's lead of the same address, selected or not.
  explicit_leads as (
    select
      x.*,
      l.id as lead_id,
      l.email as lead_email,
      l.first_name as lead_first_name,
      l.last_name as lead_last_name,
      l.company as lead_company,
      l.custom_fields as lead_custom_fields,
      l.subscription_status as lead_subscription_status
    from explicit as x
    left join public.leads as l on l.user_id = owner and lower(l.email) = x.address
  )
  select
    coalesce(s.email, x.lead_email, x.email),
    coalesce(s.id, x.lead_id),
    coalesce(s.first_name, x.lead_first_name, x.first_name),
    coalesce(s.last_name, x.lead_last_name, x.last_name),
    coalesce(x.data, '{}')
      || jsonb_strip_nulls(jsonb_build_object('company', coalesce(s.company, x.lead_company)))
      || coalesce(s.custom_fields, x.lead_custom_fields, '{}')
  from explicit_leads as x
  full join selected as s on s.address = x.address
  -- Subscription: an explicit address whose lead is unconfirmed or unsubscribed gets nothing
  -- (a suppressed one stays, recorded as suppressed by fan-out).
  where x.lead_subscription_status is null
     or x.lead_subscription_status = 'subscribed'
     or exists (
       select
       from public.email_suppressions as u
       where u.user_id = owner and lower(u.email) = x.address)
$$;

comment on function private.resolve_email_recipients(uuid, jsonb) is
  'The recipients a (valid) recipient_list means for its owner: explicit entries, selected leads, list members who have not left and leads asked to confirm (while unconfirmed), one per lower(email), lead data winning; leads that are not subscribed (and explicit addresses of such leads) are left out unless suppressed, which fan-out records as such.';

create index email_campaigns_confirmations_idx on public.email_campaigns (user_id, created_at)
  where purpose = 'confirmation';

-- The confirmation email of a lead that posted a form with double opt-in: a confirmation
-- campaign that starts sending at once (fan-out makes its delivery, suppressed when the
-- address is). confirm_url is the signed link the forms function made; it reaches the message
-- as the merge field confirm_url. Returns the delivery's status, 'throttled' when one was
-- sent to the lead in the last 5 minutes, or null when the lead is not unconfirmed.
create function private.send_form_confirmation(form_id uuid, lead_id uuid, confirm_url text)
returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  form public.forms;
  lead public.leads;
  confirmation_id uuid;
  delivery_status text;
begin
  select f.* into form from public.forms as f where f.id = send_form_confirmation.form_id;
  select l.* into lead
  from public.leads as l
  where l.id = send_form_confirmation.lead_id and l.user_id = form.user_id;
  if lead.id is null or lead.subscription_status <> 'unconfirmed' then
    return null;
  end if;
  if exists (
    select
    from public.email_campaigns as c
    where c.user_id = form.user_id
      and c.purpose = 'confirmation'
      and c.created_at > now() - interval '5 minutes'
      and c.recipient_list @> jsonb_build_array(jsonb_build_object('confirm', lead.id))
  ) then
    return 'throttled';
  end if;

  insert into public.email_campaigns (user_id, subject, content, recipient_list, send_at, status, purpose)
  values (
    form.user_id,
    form.confirm_subject,
    replace(form.confirm_body, '{{confirm_url}}', confirm_url),
    jsonb_build_array(jsonb_build_object('confirm', lead.id)),
    now(),
    'scheduled',
    'confirmation'
  )
  returning id into confirmation_id;
  update public.email_campaigns as c set status = 'sending' where c.id = confirmation_id;
  select d.status into delivery_status from public.email_deliveries as d where d.email_campaign_id = confirmation_id;
  return coalesce(delivery_status, 'none');
end;
$$;
comment on function private.send_form_confirmation(uuid, uuid, text) is
  'Sends the double opt-in confirmation email of a form to its unconfirmed lead through the email pipeline (a confirmation campaign); at most one per lead every 5 minutes.';
revoke all on function private.send_form_confirmation(uuid, uuid, text) from public, anon, authenticated, service_role;

-- A followed confirm link (its signature and expiry checked by the forms function): an
-- unconfirmed lead becomes subscribed and the confirmation is recorded as a consent (purpose
-- double_opt_in, the form's text and version, the confirming browser's address and agent).
-- Returns the lead's state afterwards, null for a lead or form that is gone.
create function private.confirm_form_lead(form_id uuid, lead_id uuid, client_ip inet, client_user_agent text)
returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  form public.forms;
  lead public.leads;
begin
  select f.* into form from public.forms as f where f.id = confirm_form_lead.form_id;
  update public.leads as l
  set subscription_status = 'subscribed'
  where l.id = confirm_form_lead.lead_id
    and l.user_id = form.user_id
    and l.subscription_status = 'unconfirmed'
  returning l.* into lead;
  if lead.id is not null then
    insert into public.consents (
      user_id, lead_id, form_id, purpose, consent_text, consent_version, ip_address, user_agent
    )
    values (
      form.user_id, lead.id, form.id, 'double_opt_in', form.consent_text, form.consent_version,
      client_ip, left(client_user_agent, 1000)
    );
    return lead.subscription_status;
  end if;
  select l.subscription_status into lead.subscription_status
  from public.leads as l
  where l.id = confirm_form_lead.lead_id and l.user_id = form.user_id;
  return lead.subscription_status;
end;
$$;
comment on function private.confirm_form_lead(uuid, uuid, inet, text) is
  'A followed double opt-in link: subscribes the unconfirmed lead and records the confirmation as a consent; returns the lead''s state.';
revoke all on function private.confirm_form_lead(uuid, uuid, inet, text) from public, anon, authenticated, service_role;

-- Expiry of unconfirmed leads.
create index leads_unconfirmed_idx on public.leads (subscription_changed_at)
  where subscription_status = 'unconfirmed';

create table private.unconfirmed_expiry_failures (
  user_id uuid primary key references auth.users (id) on delete cascade,
  failed_at timestamptz not null default now(),
  error text not null
);
comment on table private.unconfirmed_expiry_failures is
  'Owners whose unconfirmed leads could not be expired in the last run, with the reason (cleared by a later success).';
revoke all on table private.unconfirmed_expiry_failures from public, anon, authenticated, service_role;

-- Deletes the leads that have been unconfirmed since they were created (a form made them and
-- nobody confirmed) for longer than max_age, with their consents and list memberships. A lead
-- that existed before its double opt-in keeps its data and stays unconfirmed. One owner at a
-- time: an owner whose deletion fails (a trigger of theirs) keeps their leads and gets a row in
-- private.unconfirmed_expiry_failures; the others are done. Safe to run twice or late.
create function private.expire_unconfirmed_leads(max_age interval default interval '30 days')
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  owner uuid;
  deleted integer;
  total integer := 0;
  failed integer := 0;
  message text;
begin
  for owner in
    select distinct l.user_id
    from public.leads as l
    where l.subscription_status = 'unconfirmed'
      and l.subscription_changed_at < now() - max_age
  loop
    begin
      delete from public.leads as l
      where l.user_id = owner
        and l.subscription_status = 'unconfirmed'
        and l.subscription_changed_at < now() - max_age
        and l.subscription_changed_at = l.created_at;
      get diagnostics deleted = row_count;
      total := total + deleted;
      delete from private.unconfirmed_expiry_failures as f where f.user_id = owner;
    exception when others then
      get stacked diagnostics message = message_text;
      failed := failed + 1;
      insert into private.unconfirmed_expiry_failures as f (user_id, error)
      values (owner, left(message, 2000))
      on conflict (user_id) do update set error = excluded.error, failed_at = now();
    end;
  end loop;
  return jsonb_build_object('deleted', total, 'failed_owners', failed);
end;
$$;
comment on function private.expire_unconfirmed_leads(interval) is
  'Cron job body (beacon-expire-unconfirmed-leads): deletes leads unconfirmed since creation for longer than max_age, owner by owner; failures in private.unconfirmed_expiry_failures.';
revoke all on function private.expire_unconfirmed_leads(interval) from public, anon, authenticated, service_role;

select cron.schedule(
  'beacon-expire-unconfirmed-leads',
  '41 * * * *',
  $$select private.expire_unconfirmed_leads()$$
);
