-- beacon-segment-triggers evaluates at most per_owner segments of each owner per run (issue
-- 8): it evaluated every due segment in one loop, so an owner with hundreds of watched
-- segments delayed everyone else's by as long as theirs took, every minute. Now each owner's
-- due segments are ranked, least recently evaluated first, the first per_owner of each taken
-- round-robin (every owner's first, then every owner's second, …); the rest are still due and
-- come first in their owner's share of the next run.

drop function private.evaluate_segment_triggers();

create function private.evaluate_segment_triggers(per_owner integer default 20)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  due uuid;
  evaluated integer := 0;
begin
  if per_owner is null or per_owner not between 1 and 1000 then
    raise exception using
      errcode = 'invalid_parameter_value',
      message = format('evaluate_segment_triggers: per_owner must be between 1 and 1000, not %s',
        coalesce(per_owner::text, 'null'));
  end if;
  -- A segment no active workflow watches any more is forgotten; watched again, it starts
  -- from a new baseline.
  delete from private.segment_evaluations as e
  where not exists (
    select
    from private.workflow_triggers as t
    where t.segment_id = e.segment_id and t.type in ('segment_entered', 'segment_exited')
  );
  insert into private.segment_evaluations (segment_id, user_id)
  select distinct s.id, s.user_id
  from private.workflow_triggers as t
  join public.segments as s on s.id = t.segment_id and s.user_id = t.user_id
  where t.type in ('segment_entered', 'segment_exited')
  on conflict (segment_id) do nothing;

  for due in
    select d.segment_id
    from (
      select
        e.segment_id,
        e.leads_seen_at,
        row_number() over (partition by e.user_id order by e.leads_seen_at nulls first, e.segment_id) as turn
      from private.segment_evaluations as e
      join public.segments as s on s.id = e.segment_id
      where case
        when e.error is not null then
          s.updated_at > e.failed_at or e.failed_at <= now() - private.segment_whole_interval(s.predicate)
        else
          e.evaluated_whole_at is null
          or e.predicate is distinct from s.predicate
          or e.evaluated_whole_at <= now() - private.segment_whole_interval(s.predicate)
          or exists (
            select
            from public.leads as l
            where l.user_id = e.user_id
              and l.updated_at >= e.leads_seen_at - private.segment_change_overlap()
          )
      end
    ) as d
    where d.turn <= per_owner
    order by d.turn, d.leads_seen_at nulls first, d.segment_id
  loop
    begin
      if private.evaluate_segment(due) is not null then
        evaluated := evaluated + 1;
      end if;
    exception when others then
      update private.segment_evaluations as e
      set error = left(sqlerrm, 2000), failed_at = now()
      where e.segment_id = due;
      update public.segments as s
      set evaluation_error = left(sqlerrm, 2000)
      where s.id = due;
    end;
  end loop;
  return evaluated;
end;
$$;
comment on function private.evaluate_segment_triggers(integer) is
  'The beacon-segment-triggers job: keeps one evaluation row per watched segment and evaluates those due (changed leads, whole-evaluation interval, new predicate), at most per_owner of each owner per run (least recently evaluated first, round-robin across owners; the rest next run), each in its own subtransaction; a failing segment records its reason and holds nobody up. Returns how many segments it evaluated.';
revoke all on function private.evaluate_segment_triggers(integer) from public;
