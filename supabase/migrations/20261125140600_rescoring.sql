-- Rescoring: after an owner changes their scoring rules (or their qualification threshold),
-- every one of their leads is brought in line, set-based: one statement evaluates the
-- changed rules (old and new versions) over all the owner's leads, writes a ledger row per
-- lead whose points changed (with the points per rule), adds the differences to the scores,
-- and replaces the applied copy of the rules; then new leads at or above the threshold become qualified.
--
-- It runs shortly after the change, not in the app's write: a write to scoring_rules or
-- scoring_settings only files a request (private.scoring_rescores), and the pg_cron job
-- beacon-apply-scoring-rules (every minute) calls private.apply_scoring_changes(), which
-- rescores each owner with a pending request. Until then, leads keep being scored, and
-- ledgered, against the rules applied so far, so scores and ledger always agree.
-- While an owner's leads are rescored, inserts of their leads wait (advisory lock).

create table private.scoring_rescores (
  id bigint generated always as identity primary key,
  user_id uuid not null references auth.users (id) on delete cascade,
  requested_at timestamptz not null default now()
);
comment on table private.scoring_rescores is
  'Requests to rescore a user''s leads, filed when their scoring rules or threshold change; removed when applied.';
create index scoring_rescores_user_id_idx on private.scoring_rescores (user_id);
revoke all on table private.scoring_rescores from public, anon, authenticated, service_role;

-- Security definer: apps change their rules and settings, and may not write the queue.
create function private.request_rescore()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- Not when the rule goes because its owner is being deleted.
  insert into private.scoring_rescores (user_id)
  select u.id
  from auth.users as u
  where u.id = case when tg_op = 'DELETE' then old.user_id else new.user_id end;
  return null;
end;
$$;
comment on function private.request_rescore() is
  'Trigger: files a request to rescore the owner''s leads after a scoring rule or the threshold changed.';

create trigger request_rescore
after insert or update or delete on public.scoring_rules
for each row execute function private.request_rescore();

create trigger request_rescore
after insert or update of qualification_threshold on public.scoring_settings
for each row execute function private.request_rescore();

do $$
begin
  execute format($ddl$
    create function private.rescore_leads(owner uuid)
    returns integer
    language plpgsql
    set search_path = ''
    -- Room for a million leads' changes in memory.
    set work_mem = '256MB'
    as $body$
    declare
      rescored integer;
    begin
      perform pg_advisory_xact_lock(private.scoring_lock_key(owner));
      -- Requests filed from here on stay for the next run.
      delete from private.scoring_rescores as q where q.user_id = owner;

      perform set_config('beacon.trusted_score_write', 'on', true);
      with live as (
        select c.*
        from public.scoring_rules as r
        cross join lateral private.compile_scoring_rule(r) as c
        where r.user_id = owner
          and r.is_active
          and r.condition ->> 'type' <> 'event'
      ),
      changed as materialized (
        select
          coalesce(n.rule_id, o.rule_id) as rule_id,
          coalesce(n.name, o.name) as name,
          case when o.rule_id is null then 'added' when n.rule_id is null then 'removed' else 'changed' end
            as change,
          o.kind as o_kind, o.field as o_field, o.value as o_value, o.pattern as o_pattern,
          o.free_mail as o_free_mail, o.domains as o_domains, o.tag as o_tag, o.op as o_op,
          o.expected as o_expected, o.points as o_points,
          n.kind as n_kind, n.field as n_field, n.value as n_value, n.pattern as n_pattern,
          n.free_mail as n_free_mail, n.domains as n_domains, n.tag as n_tag, n.op as n_op,
          n.expected as n_expected, n.points as n_points
        from live as n
        full join (select * from private.applied_scoring_rules as a where a.user_id = owner) as o
          on o.rule_id = n.rule_id
        where (n.kind, n.field, n.value, n.pattern, n.free_mail, n.domains, n.tag, n.op, n.expected, n.points)
              is distinct from
              (o.kind, o.field, o.value, o.pattern, o.free_mail, o.domains, o.tag, o.op, o.expected, o.points)
      ),
      -- Per lead, what each changed rule gives now minus what it gave: one row per lead
      -- whose points changed, aggregated next to the lead (no sort of all the changes).
      per_lead as materialized (
        select l.id as lead_id, d.points, d.reason, d.details
        from public.leads as l
        cross join lateral (
          select
            sum(x.points)::integer as points,
            left('rules changed: ' || string_agg(
              x.name || ' (' || x.change || ') ' || case when x.points > 0 then '+' else '' end || x.points,
              ', ' order by x.points desc, x.name), 2000) as reason,
            jsonb_object_agg(x.rule_id::text, x.points) as details
          from (
            select
              c.rule_id,
              c.name,
              c.change,
              (case when %1$s then c.n_points else 0 end) - (case when %2$s then c.o_points else 0 end) as points
            from changed as c
          ) as x
          where x.points <> 0
        ) as d
        where l.user_id = owner
          and d.details is not null
      ),
      ledgered as (
        insert into public.lead_score_ledger (user_id, lead_id, points, source, reason, details)
        select owner, p.lead_id, p.points, 'rule', p.reason, p.details
        from per_lead as p
      ),
      removed as (
        delete from private.applied_scoring_rules as a
        where a.user_id = owner
          and not exists (select from live as n where n.rule_id = a.rule_id)
      ),
      applied as (
        insert into private.applied_scoring_rules
        select * from live
        on conflict (rule_id) do update
        set name = excluded.name, points = excluded.points, kind = excluded.kind, field = excluded.field,
            value = excluded.value, pattern = excluded.pattern, free_mail = excluded.free_mail,
            domains = excluded.domains, tag = excluded.tag, op = excluded.op, expected = excluded.expected
      ),
      updated as (
        update public.leads as l
        set score = l.score + p.points
        from per_lead as p
        where l.id = p.lead_id
          and p.points <> 0
        returning 1
      )
      select count(*) into rescored from updated;
      perform set_config('beacon.trusted_score_write', '', true);

      -- The threshold may have changed too: every new lead at or above it is qualified.
      perform private.qualify_leads(array(
        select l.id
        from public.leads as l
        join public.scoring_settings as s on s.user_id = l.user_id
        where l.user_id = owner
          and l.status = 'new'
          and l.score >= s.qualification_threshold
      ));
      return rescored;
    end;
    $body$
  $ddl$,
    private.profile_rule_match_sql('c.n_', 'l'),
    private.profile_rule_match_sql('c.o_', 'l'));
end;
$$;
comment on function private.rescore_leads(uuid) is
  'Rescores all of a user''s leads against their current profile rules, set-based, with ledger rows; qualifies new leads at the threshold. Returns how many scores changed.';

create function private.apply_scoring_changes()
returns integer
language plpgsql
set search_path = ''
as $$
declare
  owner uuid;
  owners integer := 0;
begin
  for owner in
    select distinct q.user_id from private.scoring_rescores as q
  loop
    -- An owner another run is rescoring right now is left to it.
    if pg_try_advisory_xact_lock(private.scoring_lock_key(owner)) then
      perform private.rescore_leads(owner);
      owners := owners + 1;
    end if;
  end loop;
  return owners;
end;
$$;
comment on function private.apply_scoring_changes() is
  'pg_cron job beacon-apply-scoring-rules: rescores the leads of every user whose scoring rules or threshold changed; returns how many users.';

revoke all on function private.request_rescore(), private.rescore_leads(uuid), private.apply_scoring_changes()
  from public, anon, authenticated, service_role;

-- A stable job name: re-running the migration updates the job instead of adding another.
select cron.schedule(
  'beacon-apply-scoring-rules',
  '* * * * *',
  'select private.apply_scoring_changes()'
);
