-- A lead_changes row whose expansion fails is retried (issue 8): it was kept with its reason and
-- never claimed again, so a passing failure (a lock timeout, a deploy between two migrations)
-- left that owner's new leads without their workflows for good, and an owner's good rows
-- failed with the one bad row claimed alongside them.
--   - a failing owner's rows are expanded one by one, only the rows that fail are kept;
--   - a failed row is retried after 30 s, 2, 8 and 32 minutes (its error and failed_at say why
--     and when, retry_at when next); the fifth failure is final: error says "gave up after 5
--     attempts: <reason>", retry_at is null, and the row stays for its owner to read
--     (public.background_failures);
--   - at a retry the row waits again (error cleared) and takes its place in its owner's share.

alter table private.lead_changes
  add column attempts integer not null default 0,
  add column retry_at timestamptz,
  add constraint lead_changes_retry_check check (retry_at is null or error is not null);
comment on column private.lead_changes.attempts is 'How many times expanding this row has failed.';
comment on column private.lead_changes.retry_at is
  'When a failed row waits again to be expanded; null once it waits, or when it has failed for good.';
comment on column private.lead_changes.error is
  'Why expanding this row failed last; with retry_at null, for good (no more attempts).';
create index lead_changes_retry_idx on private.lead_changes (retry_at) where retry_at is not null;

create function private.lead_change_max_attempts()
returns integer
language sql
immutable
set search_path = ''
as $$
  select 5
$$;
comment on function private.lead_change_max_attempts() is
  'How many times expanding a lead_changes row is tried before it is left failed with its reason.';
revoke all on function private.lead_change_max_attempts() from public;

create function private.fail_lead_change(change_id bigint, reason text)
returns void
language sql
set search_path = ''
as $$
  update private.lead_changes as c
  set attempts = c.attempts + 1,
      error = left(case
        when c.attempts + 1 >= private.lead_change_max_attempts()
          then format('gave up after %s attempts: %s', c.attempts + 1, reason)
        else reason
      end, 2000),
      failed_at = now(),
      -- 30 s, then four times longer each time: 2, 8, 32 minutes.
      retry_at = case
        when c.attempts + 1 < private.lead_change_max_attempts()
          then now() + interval '30 seconds' * power(4, c.attempts)
      end
  where c.id = change_id
$$;
comment on function private.fail_lead_change(bigint, text) is
  'Records why expanding a lead_changes row failed and when it is retried (backoff), or that it has failed for good.';
revoke all on function private.fail_lead_change(bigint, text) from public;

create or replace function private.expand_lead_changes(batch integer default 1000)
returns integer
language plpgsql
set search_path = ''
-- The claim's estimates (a recursive scan, a window over laterals) pass jit_above_cost, and
-- compiling it took 0.5 s of a claim that runs in under a millisecond.
set jit = off
as $$
declare
  claimed bigint[];
  owner uuid;
  owner_changes bigint[];
  change bigint;
begin
  -- Failed rows whose retry is due wait again, in their owner's share like any other.
  update private.lead_changes as c
  set error = null, failed_at = null, retry_at = null
  where c.id = any (array(
    select r.id
    from private.lead_changes as r
    where r.retry_at <= now()
    order by r.retry_at
    limit greatest(batch, 1)
    for update skip locked
  ));
  with recursive owners (user_id, first_id) as (
    (
      select c.user_id, c.id
      from private.lead_changes as c
      where c.error is null
      order by c.user_id, c.created_at, c.id
      limit 1
    )
    union all
    select n.user_id, n.id
    from owners as o
    cross join lateral (
      select c.user_id, c.id
      from private.lead_changes as c
      where c.error is null
        and c.user_id > o.user_id
      order by c.user_id, c.created_at, c.id
      limit 1
    ) as n
  ),
  chosen as (
    select o.user_id, o.first_id
    from owners as o
    order by o.first_id
    limit greatest(batch, 1)
  ),
  share as (
    select ceil(greatest(batch, 1)::numeric / greatest(count(*), 1))::integer as per_owner
    from chosen
  ),
  -- turn: the row's place in its owner's share; taking turn by turn is the round-robin.
  candidates as (
    select c.id, row_number() over (partition by ch.user_id order by c.created_at, c.id) as turn
    from chosen as ch
    cross join share as s
    cross join lateral (
      select c.id, c.created_at
      from private.lead_changes as c
      where c.error is null
        and c.user_id = ch.user_id
      order by c.created_at, c.id
      limit s.per_owner
    ) as c
  )
  select array_agg(p.id order by p.id)
  into claimed
  from (
    select p.id
    from private.lead_changes as p
    where p.id = any (array(select c.id from candidates as c order by c.turn, c.id limit greatest(batch, 1)))
      and p.error is null
    for update skip locked
  ) as p;
  if claimed is null then
    return 0;
  end if;
  begin
    perform private.start_lead_change_workflows(claimed);
  exception when others then
    -- Someone's rows fail the batch: expand owner by owner, each on their own, and a failing
    -- owner's rows one by one, so that only the rows that fail wait for a retry.
    for owner in select distinct c.user_id from private.lead_changes as c where c.id = any (claimed) loop
      select array_agg(c.id order by c.id)
      into owner_changes
      from private.lead_changes as c
      where c.id = any (claimed) and c.user_id = owner;
      begin
        perform private.start_lead_change_workflows(owner_changes);
      exception when others then
        foreach change in array owner_changes loop
          begin
            perform private.start_lead_change_workflows(array[change]);
          exception when others then
            perform private.fail_lead_change(change, sqlerrm);
          end;
        end loop;
      end;
    end loop;
  end;
  return cardinality(claimed);
end;
$$;
comment on function private.expand_lead_changes(integer) is
  'Claims up to batch pending lead_changes rows (skip locked), an equal share per owner with waiting rows taken round-robin, longest-waiting owners first, and starts their workflows; a row that fails keeps the reason and is retried with backoff (private.fail_lead_change), the failed rows whose retry is due waiting again first. Returns how many rows it claimed.';
