-- Fan-out writes chunks, not deliveries (issue 13): a campaign of more than
-- private.email_deliveries_at_fan_out_max() recipients gets one job per chunk of 100 whose
-- payload holds the chunk's resolved recipients ('recipients': their delivery ids, leads,
-- addresses, names and merge data, an array each), and a chunk writes its 100 email_deliveries rows when it is first
-- claimed (private.write_email_chunk_deliveries, one insert per claim). Fan-out's cost is then
-- its recipients' resolution and one row per chunk; the deliveries' writes (the heap, their
-- indexes and three foreign-key checks each: most of a fan-out's time, docs/performance.md)
-- are spread over the dispatchers, a chunk at a time.
--
-- What stays as it was:
-- - membership and keys: the delivery ids are drawn at fan-out and are the chunk's 'members'
--   from the start, so its Idempotency-Key (from its members' keys, at the first claim) and
--   every re-claim are unchanged; a chunk's deliveries are written once (the claim holds the
--   job's lock and removes 'recipients' in the same transaction);
-- - suppressed recipients are written at fan-out as 'suppressed' deliveries; addresses
--   suppressed later are skipped by the claim as before (the rows are written, then marked);
-- - small campaigns (up to 1,000 recipients: workflow steps, confirmations, most tests) write
--   every delivery at fan-out, so callers that read a send's delivery at once still find it;
-- - whoever reads deliveries of a chunk not yet claimed writes them first: cancelling (they
--   become cancelled), erasing a lead (they are deleted with its others); the queue view counts
--   pending members as queued and the campaign's metrics count them as recipients.
--
-- Fan-out's other costs, measured on 100,000 recipients: resolving them read every picked
-- lead twice (its id, then its row by id: resolve_email_recipients now reads the rows once),
-- the sort into chunks compared addresses under the database's collation (now bytes), and
-- the payload built an object per recipient (now an array per column) and was compressed
-- with pglz (now lz4).

-- Chunks now carry their recipients (about 20 kB of JSON per 100): lz4 compresses them in half
-- pglz's time (the fan-out's job inserts were 40 % of its CPU with pglz) and smaller. A server
-- built without lz4 (hosted Supabase projects provisioned before January 2023) keeps pglz:
-- slower, never wrong, and the migration must not fail there.
do $lz4$
begin
  alter table private.jobs alter column payload set compression lz4;
exception when feature_not_supported then
  raise notice 'this server has no lz4: private.jobs.payload stays compressed with pglz';
end;
$lz4$;

create function private.email_deliveries_at_fan_out_max()
returns integer
language sql
immutable
set search_path = ''
as $$
  select 1000
$$;
comment on function private.email_deliveries_at_fan_out_max() is
  'A campaign of at most this many recipients writes its deliveries at fan-out; a larger one writes each chunk''s when the chunk is first claimed.';
revoke all on function private.email_deliveries_at_fan_out_max() from public, anon, authenticated, service_role;

create function private.write_email_chunk_deliveries(job_ids bigint[])
returns integer
language sql
set search_path = ''
as $$
  -- Locked, so that a claim and a cancel never write one chunk twice: the second waits, then
  -- finds 'recipients' gone.
  -- By id (the job's primary key; as "id = any (job_ids)" the planner chose the kind's index
  -- and opened every payload of the kind).
  with chunks as materialized (
    select j.id, j.user_id, j.subject_id, j.payload -> 'recipients' as recipients
    from unnest(job_ids) as w (id)
    join private.jobs as j on j.id = w.id
    where j.kind = 'email'
      and j.payload ? 'recipients'
    for update of j
  ),
  pending as materialized (
    select c.id as job_id, c.user_id, c.subject_id, r.id::uuid, r.lead_id::uuid, r.email, r.first_name, r.last_name,
           r.merge_data
    from chunks as c
    cross join lateral rows from (
      jsonb_array_elements_text(c.recipients -> 'id'),
      jsonb_array_elements_text(c.recipients -> 'lead_id'),
      jsonb_array_elements_text(c.recipients -> 'email'),
      jsonb_array_elements_text(c.recipients -> 'first_name'),
      jsonb_array_elements_text(c.recipients -> 'last_name'),
      jsonb_array_elements(c.recipients -> 'merge_data')
    ) as r (id, lead_id, email, first_name, last_name, merge_data)
  ),
  -- A lead deleted since fan-out leaves lead_id null (as its foreign key does to a written
  -- delivery); the lock keeps the rest from being deleted before the insert's key check.
  leads as (
    select l.id
    from public.leads as l
    where l.id in (select p.lead_id from pending as p)
    for key share
  ),
  written as (
    insert into public.email_deliveries (
      id, user_id, email_campaign_id, lead_id, email, first_name, last_name, merge_data, status,
      idempotency_key
    )
    select p.id, p.user_id, p.subject_id, l.id, p.email, p.first_name, p.last_name, p.merge_data, 'queued', p.id::text
    from pending as p
    left join leads as l on l.id = p.lead_id
    returning 1
  ),
  emptied as (
    update private.jobs as j
    set payload = j.payload - 'recipients'
    from chunks as c
    where j.id = c.id
  )
  select count(*)::integer from written
$$;
comment on function private.write_email_chunk_deliveries(bigint[]) is
  'Writes the queued email_deliveries of the given email chunks not written yet (their payload''s recipients, resolved at fan-out) and drops the recipients from the payload; returns how many it wrote.';
revoke all on function private.write_email_chunk_deliveries(bigint[]) from public, anon, authenticated, service_role;

create or replace function private.fan_out_email_campaign(email_campaign_id uuid)
returns integer
language plpgsql
set search_path = ''
set work_mem = '64MB'
as $$
declare
  queued integer;
  chunks bigint[];
  problem text;
begin
  -- The list was checked when it was saved; one that reached the table some other way
  -- fails here, with the validator's reason, before anything is sent.
  select private.recipient_list_problem(c.recipient_list)
  into problem
  from public.email_campaigns as c
  where c.id = fan_out_email_campaign.email_campaign_id;
  if problem is not null then
    raise exception using
      errcode = 'check_violation',
      message = problem,
      hint = 'Fix the recipient list (it is frozen once sending starts: create a new campaign).';
  end if;

  with recipients as materialized (
    select
      gen_random_uuid() as delivery_id,
      c.id as email_campaign_id,
      c.user_id,
      r.*,
      exists (
        select
        from public.email_suppressions as s
        where s.user_id = c.user_id and lower(s.email) = lower(r.email)
      ) as suppressed
    from public.email_campaigns as c
    cross join lateral private.resolve_email_recipients(c.user_id, c.recipient_list) as r
    where c.id = fan_out_email_campaign.email_campaign_id
  ),
  suppressed as (
    insert into public.email_deliveries (
      id, user_id, email_campaign_id, lead_id, email, first_name, last_name, merge_data, status,
      idempotency_key
    )
    select
      r.delivery_id, r.user_id, r.email_campaign_id, r.lead_id, r.email, r.first_name, r.last_name,
      r.merge_data, 'suppressed', r.delivery_id::text
    from recipients as r
    where r.suppressed
  ),
  -- Chunks of 100 by address (in byte order: a collation's comparisons cost a third of the
  -- fan-out's sort): one job each, its recipients in the payload.
  chunked as (
    select
      r.*,
      ((row_number() over (order by lower(r.email) collate "C")) - 1) / 100 as chunk
    from recipients as r
    where not r.suppressed
  ),
  jobs as (
    insert into private.jobs (kind, key, user_id, subject_id, payload)
    select
      'email',
      c.email_campaign_id || ':' || c.chunk,
      c.user_id,
      c.email_campaign_id,
      -- An array per column (an object per recipient took three times as long to build).
      jsonb_build_object(
        'chunk', c.chunk,
        'members', to_jsonb(array_agg(c.delivery_id)),
        'recipients', jsonb_build_object(
          'id', to_jsonb(array_agg(c.delivery_id)),
          'lead_id', to_jsonb(array_agg(c.lead_id)),
          'email', to_jsonb(array_agg(c.email)),
          'first_name', to_jsonb(array_agg(c.first_name)),
          'last_name', to_jsonb(array_agg(c.last_name)),
          'merge_data', to_jsonb(array_agg(c.merge_data))))
    from chunked as c
    group by c.email_campaign_id, c.user_id, c.chunk
    order by c.chunk
    returning id
  )
  select (select count(*)::integer from recipients as r where not r.suppressed), (select array_agg(j.id) from jobs as j)
  into queued, chunks;

  if queued <= private.email_deliveries_at_fan_out_max() then
    perform private.write_email_chunk_deliveries(chunks);
  else
    -- No delivery written: the tick recounts the campaign's metrics (its recipients) anyway.
    insert into private.email_metrics_stale (email_campaign_id)
    values (fan_out_email_campaign.email_campaign_id);
  end if;
  return queued;
end;
$$;
comment on function private.fan_out_email_campaign(uuid) is
  'Starts an email campaign: one job of kind email per chunk of 100 recipients (by address), the recipients in its payload; writes the deliveries at once for a campaign of at most private.email_deliveries_at_fan_out_max() recipients (else each chunk''s first claim does) and suppressed ones always. Returns how many deliveries were queued.';

create or replace view private.email_queue as
select
  m.id::uuid as delivery_id,
  j.subject_id as email_campaign_id,
  j.user_id,
  (j.payload ->> 'chunk')::integer as chunk,
  j.run_after,
  j.attempts,
  j.lease_until,
  j.leased_by,
  j.status = 'held' as paused,
  j.payload ->> 'chunk_key' as chunk_key,
  j.id as job_id
from private.jobs as j
cross join lateral jsonb_array_elements_text(j.payload -> 'members') as m (id)
where j.kind = 'email'
  and j.status in ('ready', 'held')
  -- A chunk not claimed yet, whose deliveries are not written (private.write_email_chunk_deliveries).
  and j.payload ? 'recipients'
union all
select
  m.id::uuid as delivery_id,
  j.subject_id as email_campaign_id,
  j.user_id,
  (j.payload ->> 'chunk')::integer as chunk,
  j.run_after,
  j.attempts,
  j.lease_until,
  j.leased_by,
  j.status = 'held' as paused,
  j.payload ->> 'chunk_key' as chunk_key,
  j.id as job_id
from private.jobs as j
cross join lateral jsonb_array_elements_text(j.payload -> 'members') as m (id)
where j.kind = 'email'
  and j.status in ('ready', 'held')
  and not (j.payload ? 'recipients')
  -- A deleted delivery (its campaign or its address erased) has left the queue.
  and exists (select from public.email_deliveries as d where d.id = m.id::uuid);
comment on view private.email_queue is
  'Deliveries waiting to be sent: the members of the waiting jobs of kind email (private.jobs, one job per chunk of at most 100 deliveries of a campaign; a chunk not claimed yet has not written its deliveries). Inserting queues a delivery in its chunk; updates of run_after, attempts, lease_until, leased_by and paused apply to its whole chunk.';

create or replace function private.claim_email_batch(
  worker text,
  max_chunks integer default 10,
  lease interval default '2 minutes'
)
returns table (
  delivery_id uuid,
  chunk_key text,
  idempotency_key text,
  attempt integer,
  user_id uuid,
  email_campaign_id uuid,
  email text,
  first_name text,
  last_name text,
  merge_data jsonb,
  subject text,
  content text,
  from_email text,
  from_name text,
  reply_to text
)
language plpgsql
set search_path = ''
as $$
#variable_conflict use_column
declare
  claimed private.jobs[];
begin
  if worker is null or btrim(worker) = '' or length(worker) > 200 then
    raise exception using
      errcode = 'invalid_parameter_value',
      message = 'claim_email_batch: worker must name the worker, in 1 to 200 characters',
      hint = 'Use an id unique to this worker process, e.g. a random UUID.';
  end if;
  if max_chunks is null or max_chunks not between 1 and 100 then
    raise exception using
      errcode = 'invalid_parameter_value',
      message = format('claim_email_batch: max_chunks must be between 1 and 100, not %s', coalesce(max_chunks::text, 'null'));
  end if;
  if lease is null or lease < interval '1 second' or lease > interval '1 hour' then
    raise exception using
      errcode = 'invalid_parameter_value',
      message = format('claim_email_batch: lease must be between 1 second and 1 hour, not %s', coalesce(lease::text, 'null'));
  end if;

  -- Whole chunks, leased (a chunk out of attempts is dead-lettered by the claim and its
  -- deliveries failed by private.settle_dead_email). Paused and cancelled campaigns' chunks
  -- are held, so never claimed.
  select coalesce(array_agg(c), '{}')
  into claimed
  from private.claim_jobs('email', max_chunks, worker, lease) as c;
  if cardinality(claimed) = 0 then
    return;
  end if;
  -- A chunk claimed for the first time writes its deliveries now (membership fixed: the
  -- recipients fan-out resolved); the statement below reads them like any other chunk's.
  perform private.write_email_chunk_deliveries(array(select c.id from unnest(claimed) as c where c.payload ? 'recipients'));

  return query
  with jobs as (
    -- What the statement needs of each job, not its payload: grouping by the payload compared
    -- whole payloads (a third of a claim's time).
    select
      c.id,
      c.attempts,
      c.payload -> 'members' as members,
      jsonb_array_length(c.payload -> 'members') as member_count,
      c.payload ->> 'chunk_key' as stored_key
    from unnest(claimed) as c
  ),
  members as materialized (
    select
      j.id as job_id,
      j.attempts,
      d.id as delivery_id,
      d.idempotency_key,
      d.user_id,
      d.email_campaign_id,
      d.email,
      d.first_name,
      d.last_name,
      d.merge_data,
      exists (
        select
        from public.email_suppressions as s
        where s.user_id = d.user_id
          and lower(s.email) = lower(d.email)
      ) as suppressed
    from jobs as j
    cross join lateral jsonb_array_elements_text(j.members) as m (id)
    join public.email_deliveries as d on d.id = m.id::uuid
  ),
  -- The chunk's key: the one stored at its first claim, else (this is the first claim) the
  -- SHA-256 of its members' keys, stored below. Members suppressed since leave the chunk.
  keys as materialized (
    select
      j.id as job_id,
      j.stored_key,
      coalesce(
        j.stored_key,
        encode(sha256(convert_to(
          string_agg(m.idempotency_key, ',' order by m.idempotency_key) filter (where not m.suppressed), 'UTF8')), 'hex')
      ) as chunk_key,
      coalesce(jsonb_agg(m.delivery_id) filter (where not m.suppressed), '[]') as kept,
      count(m.delivery_id) filter (where not m.suppressed) <> j.member_count as shrunk
    from jobs as j
    left join members as m on m.job_id = j.id
    group by j.id, j.stored_key, j.member_count
  ),
  noted as (
    update private.jobs as j
    set payload = j.payload || jsonb_strip_nulls(jsonb_build_object('chunk_key', k.chunk_key, 'members', k.kept)),
        -- Nobody left to send to: the chunk is done.
        status = case when k.kept = '[]' then 'done' else j.status end,
        lease_until = case when k.kept = '[]' then null else j.lease_until end,
        leased_by = case when k.kept = '[]' then null else j.leased_by end
    from keys as k
    where j.id = k.job_id
      and (k.stored_key is null or k.shrunk)
  ),
  suppressed as (
    update public.email_deliveries as d
    set status = 'suppressed'
    from members as m
    where d.id = m.delivery_id
      and m.suppressed
  )
  select
    m.delivery_id,
    k.chunk_key,
    m.idempotency_key,
    m.attempts,
    m.user_id,
    m.email_campaign_id,
    m.email,
    m.first_name,
    m.last_name,
    m.merge_data,
    e.subject,
    e.content,
    e.from_email,
    e.from_name,
    e.reply_to
  from members as m
  join keys as k on k.job_id = m.job_id
  join public.email_campaigns as e on e.id = m.email_campaign_id
  where not m.suppressed
  order by k.chunk_key, m.email;
end;
$$;
comment on function private.claim_email_batch(text, integer, interval) is
  'Leases up to max_chunks ready chunks (jobs of kind email, <= 100 deliveries each, through private.claim_jobs) to worker; writes the deliveries of chunks claimed for the first time; returns what to send; a chunk''s key and members are fixed at its first claim (members suppressed since are skipped).';

create or replace function private.apply_email_campaign_status()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if old.status = 'scheduled' and new.status = 'sending' then
    perform private.fan_out_email_campaign(new.id);
  elsif new.status = 'paused' then
    perform private.hold_jobs('email', new.id, true);
  elsif old.status = 'paused' and new.status = 'sending' then
    perform private.hold_jobs('email', new.id, false);
  elsif new.status = 'cancelled' then
    -- Chunks never claimed write their deliveries first, so that every recipient's shows it.
    perform private.write_email_chunk_deliveries(array(
      select j.id
      from private.jobs as j
      where j.kind = 'email'
        and j.subject_id = new.id
        and j.status in ('ready', 'held')
        and j.payload ? 'recipients'));
    with cancelled as (
      select c.payload
      from private.cancel_jobs('email', new.id, 'the campaign was cancelled') as c
    )
    update public.email_deliveries as d
    set status = 'cancelled'
    from cancelled as c
    cross join lateral jsonb_array_elements_text(c.payload -> 'members') as m (id)
    where d.id = m.id::uuid
      and d.status = 'queued';
    -- Chunks a worker holds right now wait for its report (which cancels what it would
    -- retry), or for the tick once their lease runs out; nobody claims them meanwhile.
    perform private.hold_jobs('email', new.id, true);
  end if;
  return null;
end;
$$;

create or replace function private.email_campaign_metrics(email_campaign_id uuid)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    -- With the recipients of chunks not claimed yet, whose deliveries are not written.
    'recipients', count(*) + (
      select coalesce(sum(jsonb_array_length(j.payload -> 'recipients' -> 'id')), 0)
      from private.jobs as j
      where j.kind = 'email'
        and j.subject_id = email_campaign_metrics.email_campaign_id
        and j.payload ? 'recipients'),
    'sent', count(d.sent_at),
    'delivered', count(d.delivered_at),
    'opened', count(d.opened_at),
    'clicked', count(d.clicked_at),
    'bounced', count(d.bounced_at),
    'complained', count(d.complained_at),
    'unsubscribed', count(d.unsubscribed_at),
    'failed', count(*) filter (where d.status = 'failed'),
    'suppressed', count(*) filter (where d.status = 'suppressed'),
    'human_opened', count(d.human_opened_at),
    'human_clicked', count(d.human_clicked_at)
  )
  from public.email_deliveries as d
  where d.email_campaign_id = email_campaign_metrics.email_campaign_id
$$;

create or replace function private.erase_deleted_leads()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if current_setting('beacon.erase_lead', true) is distinct from 'on' then
    return null;
  end if;
  -- Chunks not claimed yet that hold an erased address write their deliveries first, so that
  -- they are deleted below with the rest (and the address leaves the chunk's payload).
  perform private.write_email_chunk_deliveries(array(
    select j.id
    from private.jobs as j
    join erased_leads as l on l.user_id = j.user_id
    where j.kind = 'email'
      and j.status in ('ready', 'held')
      and j.payload ? 'recipients'
      and exists (
        select
        from jsonb_array_elements_text(j.payload -> 'recipients' -> 'email') as r (email)
        where lower(r.email) = l.email_normalized)));
  delete from public.analytics_events as a
  using erased_leads as l
  where a.user_id = l.user_id
    and (a.properties ->> 'lead_id' = l.id::text or lower(a.properties ->> 'email') = l.email_normalized);
  insert into private.email_metrics_stale (email_campaign_id)
  select distinct d.email_campaign_id
  from public.email_deliveries as d
  join erased_leads as l on d.user_id = l.user_id and lower(d.email) = l.email_normalized;
  delete from public.email_deliveries as d
  using erased_leads as l
  where d.user_id = l.user_id and lower(d.email) = l.email_normalized;
  delete from private.email_unsubscribe_keys as k
  using erased_leads as l
  where k.user_id = l.user_id and lower(k.email) = l.email_normalized;
  delete from public.email_suppressions as s
  using erased_leads as l
  where s.user_id = l.user_id and lower(s.email) = l.email_normalized;
  delete from public.workflow_executions as e
  using erased_leads as l
  where e.user_id = l.user_id and e.trigger_data ->> 'lead_id' = l.id::text;
  insert into private.erased_addresses (user_id, address_hash)
  select l.user_id, private.address_hash(l.user_id, l.email_normalized)
  from erased_leads as l
  on conflict (user_id, address_hash) do nothing;
  return null;
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
  -- The leads that lead selectors, segments and lists pick, as rows: each branch reads the
  -- leads it picks once (a campaign to 100,000 leads made 100,000 lookups by id when the
  -- branches returned ids and the rows were read again).
  picked as (
    select l.id, l.email, l.first_name, l.last_name, l.company, l.custom_fields, l.subscription_status,
           l.email_normalized
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
    -- Segments: the owner's leads in any {"segment": id} named, in one query.
    select l.id, l.email, l.first_name, l.last_name, l.company, l.custom_fields, l.subscription_status,
           l.email_normalized
    from public.leads as l
    where l.user_id = owner
      and l.id in (
        select private.segment_lead_ids(owner, array(
          select (e.entry ->> 'segment')::uuid
          from entries as e
          where jsonb_typeof(e.entry) = 'object' and e.entry ? 'segment')))
    union
    -- Lists: the members of each {"list": id} who have not left it.
    select l.id, l.email, l.first_name, l.last_name, l.company, l.custom_fields, l.subscription_status,
           l.email_normalized
    from public.leads as l
    where l.user_id = owner
      and l.id in (
        select m.lead_id
        from public.list_memberships as m
        where m.user_id = owner
          and m.unsubscribed_at is null
          and m.list_id in (
            select (e.entry ->> 'list')::uuid
            from entries as e
            where jsonb_typeof(e.entry) = 'object' and e.entry ? 'list'))
  ),
  selected as (
    select lower(p.email) as address, p.id, p.email, p.first_name, p.last_name, p.company, p.custom_fields
    from picked as p
    -- Subscription: only subscribed leads receive campaign email. One whose address is
    -- suppressed stays, so that fan-out records its delivery as suppressed (as before).
    where p.subscription_status = 'subscribed'
       or exists (
         select
         from public.email_suppressions as u
         where u.user_id = owner and lower(u.email) = p.email_normalized)
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
  where (x.lead_subscription_status is null
         or x.lead_subscription_status = 'subscribed'
         or exists (
           select
           from public.email_suppressions as u
           where u.user_id = owner and lower(u.email) = x.address))
    -- Privacy: an explicit address whose lead was erased (public.erase_lead) gets nothing.
    and (x.address is null
         or x.lead_id is not null
         or not exists (
           select
           from private.erased_addresses as z
           where z.user_id = owner and z.address_hash = private.address_hash(owner, x.address)))
$$;

