-- Rollback of 20261210150000_lead_changes_fair_share: the oldest waiting rows first, whoever's
-- they are (the body of 20261206120000_lead_changes), on the index of waiting ids.
create index lead_changes_pending_idx on private.lead_changes (id) where error is null;
drop index private.lead_changes_waiting_idx;

create or replace function private.expand_lead_changes(batch integer default 1000)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  claimed bigint[];
  owner uuid;
  owner_changes bigint[];
begin
  select array_agg(c.id order by c.id)
  into claimed
  from (
    select p.id
    from private.lead_changes as p
    where p.error is null
    order by p.id
    limit greatest(batch, 1)
    for update skip locked
  ) as c;
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
  'Claims up to batch pending lead_changes rows (oldest first, skip locked) and starts their workflows; an owner whose rows fail keeps them with the error. Returns how many rows it claimed.';
