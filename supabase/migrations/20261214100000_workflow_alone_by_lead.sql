-- A lead's runs keep the worker's order when one of them runs alone.
--
-- run_workflow_batch runs some executions one by one after the set-based pass: those back from
-- a webhook or without their lead or active workflow, and those of a group that failed
-- (BW001 names them). The same lead's other runs in the batch went through the set-based pass
-- first, so a lead could see a later run before an earlier one. Observable: a lead at its tag
-- limit whose earlier run adds a tag (fails one by one) and whose later run removes one; the
-- removal went first and the addition then succeeded.
--
-- Now every run of a lead that has a run alone runs alone too, all in the claim's order (the
-- order one by one and the lanes both keep). Only such leads leave the set-based pass; the
-- rest of the batch is unchanged.
create or replace function private.run_workflow_batch(max_executions integer default 100)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  claimed private.workflow_runs[];
  alone uuid[];
  failed uuid[];
  state text;
  detail text;
  run private.workflow_runs;
begin
  select coalesce(array_agg(c), '{}') into claimed from private.claim_workflow_runs(max_executions) as c;
  -- Leads are loaded by their run's owner and locked in id order, as one by one locked them.
  perform
  from public.leads as l
  join unnest(claimed) as c on l.id = c.lead_id and l.user_id = c.user_id
  order by l.id
  for update of l;
  -- One by one: back from a webhook, no lead, or a lead or active workflow of the owner missing
  -- (each of these ends in its own way, with its own reason).
  alone := array(
    select c.execution_id
    from unnest(claimed) as c
    where c.waiting_for is not null
       or not exists (
         select from public.workflows as w where w.id = c.workflow_id and w.user_id = c.user_id and w.is_active)
       or not exists (select from public.leads as l where l.id = c.lead_id and l.user_id = c.user_id));
  loop
    -- With each run alone go its lead's other runs, so that the lead sees them in order.
    alone := array(
      select c.execution_id
      from unnest(claimed) as c
      where c.execution_id = any (alone)
         or c.lead_id in (select a.lead_id from unnest(claimed) as a where a.execution_id = any (alone)));
    begin
      perform private.run_workflow_steps(array(
        select c from unnest(claimed) as c where c.execution_id <> all (alone)));
      exit;
    exception when others then
      get stacked diagnostics state = returned_sqlstate, detail = pg_exception_detail;
      failed := case when state = 'BW001' then nullif(detail, '')::uuid[] end;
      -- A failure outside any group (none named): everything runs one by one.
      alone := case when cardinality(failed) > 0 then alone || failed
                    else array(select c.execution_id from unnest(claimed) as c) end;
    end;
  end loop;
  -- In the claim's order.
  foreach run in array claimed loop
    if run.execution_id = any (alone) then
      perform private.run_workflow_execution(run);
    end if;
  end loop;
  insert into private.workflow_quotas as q (user_id, minute, executions)
  select c.user_id, date_trunc('minute', now()), count(*)
  from unnest(claimed) as c
  group by c.user_id
  on conflict (user_id) do update
  set executions = case when q.minute = excluded.minute then q.executions + excluded.executions else excluded.executions end,
      minute = excluded.minute;
  if exists (
    select from private.webhook_queue as q
    where q.status = 'pending' and coalesce(q.lease_until, q.run_after) <= now()
  ) then
    perform private.call_function('/dispatch');
  end if;
  return cardinality(claimed);
end;
$$;
comment on function private.run_workflow_batch(integer) is
  'Runs up to max_executions due workflow executions, claimed fairly across owners within their quotas (private.claim_workflow_runs), set-based (private.run_workflow_steps) and one by one (private.run_workflow_execution) where a group failed or the set-based path does not apply, with every other run of the same leads, in the claim''s order; wakes dispatch for queued webhooks. Returns how many ran.';
