-- Rollback of 20261214100000_workflow_alone_by_lead: run_workflow_batch runs alone only the
-- runs named (as 20261206130200_workflow_worker_set_based left it).

CREATE OR REPLACE FUNCTION private.run_workflow_batch(max_executions integer DEFAULT 100)
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
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
  for run in
    select c.*
    from unnest(claimed) as c
    where c.execution_id = any (alone)
  loop
    perform private.run_workflow_execution(run);
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
$function$
;
comment on function private.run_workflow_batch(integer) is
  'Runs up to max_executions due workflow executions, claimed fairly across owners within their quotas (private.claim_workflow_runs), set-based (private.run_workflow_steps) and one by one (private.run_workflow_execution) where a group failed or the set-based path does not apply; wakes dispatch for queued webhooks. Returns how many ran.';
