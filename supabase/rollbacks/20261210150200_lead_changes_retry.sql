-- Rollback of 20261210150200_lead_changes_retry: a failed inbox row is kept with its reason and
-- never claimed again, an owner's failing rows fail together (the expand_lead_changes of
-- 20261210150000_lead_changes_fair_share). Rows waiting for a retry stay failed.
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

drop function private.fail_lead_change(bigint, text);
drop function private.lead_change_max_attempts();
drop index private.lead_changes_retry_idx;
-- Rows waiting for a retry are left failed: without retries nothing would claim them.
update private.lead_changes set retry_at = null where retry_at is not null;
alter table private.lead_changes
  drop constraint lead_changes_retry_check,
  drop column retry_at,
  drop column attempts;
comment on column private.lead_changes.error is 'Why expanding this row failed; such rows are kept and no longer claimed.';
