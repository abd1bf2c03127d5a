-- beacon-lead-changes shares each run across owners (issue 8): it took the oldest inbox rows
-- first, whoever's they were, so one owner's bulk insert (thousands of statements, each a row)
-- held every other owner's lead_created workflows until it was all expanded.
--
-- Now, as private.claim_jobs does for the queue: the owners with waiting rows (a loose index
-- scan, one probe per owner), the longest-waiting first (by their oldest row), each take an
-- equal share of the run's limit from their oldest row on, and the rows are taken round-robin
-- (every owner's first, then every owner's second, …). One statement on one index
-- of the waiting rows (user_id, created_at, id): an owner's share is read, not its whole backlog.
-- A single insert statement is still one row however many leads it holds: a row is the unit.

-- Each owner's waiting rows in the order they are taken: by created_at, not by id alone, so
-- that the primary key (ordered by id) is never the cheaper way to an owner's oldest rows; it
-- was, when few owners hold most rows, and then walked every other owner's rows to find them.
create index lead_changes_waiting_idx on private.lead_changes (user_id, created_at, id) where error is null;
drop index private.lead_changes_pending_idx;

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
begin
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
    -- Someone's rows fail the batch: expand owner by owner, each on their own.
    for owner in select distinct c.user_id from private.lead_changes as c where c.id = any (claimed) loop
      select array_agg(c.id order by c.id)
      into owner_changes
      from private.lead_changes as c
      where c.id = any (claimed) and c.user_id = owner;
      begin
        perform private.start_lead_change_workflows(owner_changes);
      exception when others then
        update private.lead_changes as c
        set error = left(sqlerrm, 2000), failed_at = now()
        where c.id = any (owner_changes);
      end;
    end loop;
  end;
  return cardinality(claimed);
end;
$$;
comment on function private.expand_lead_changes(integer) is
  'Claims up to batch pending lead_changes rows (skip locked), an equal share per owner with waiting rows taken round-robin, longest-waiting owners first, and starts their workflows; an owner whose rows fail keeps them with the error. Returns how many rows it claimed.';
