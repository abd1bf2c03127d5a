-- A workflow run's consecutive lead steps, score steps included, change its lead with one
-- update. 20261208120100 wrote a run of profile steps (add_tag, remove_tag, set_field) once but
-- kept each adjust_score a write of its own, because scoring ledgered no profile points for a
-- trusted score write. The workflow benchmark's executions (add_tag, set_field, adjust_score)
-- wrote their lead twice; the second write, with its triggers and ledger, was 45 % of a batch
-- (2,000 executions: 0.77 s with the score step, 0.41 s without).
--
-- What a run does now, in both workers alike:
--   - the run's profile points count first (the profile rules on the lead as the run leaves it,
--     kept within the score's bounds), then each score step in order, each moving the score at
--     most to a bound (private.workflow_run_points); each score step's result names its points
--     and the score after it, as before;
--   - one ledger row per score step that moved the score (source 'workflow', as before), and
--     the profile rule row the lead's trigger writes when the run changed profile points;
--   - one update of the lead, under beacon.trusted_score_write = 'profile': set_lead_score
--     takes the score written as Beacon's own and adds the profile points, and
--     record_updated_lead_scores ledgers those profile points (for 'on', Beacon's score-only
--     writes, it still ledgers nothing);
--   - lead triggers fire once for the run: lead_updated, tag_added and lead_score_reached see
--     the run's whole change, score included (before, the profile part and each score step
--     were changes of their own).
-- A score step between other kinds of steps (a condition, a wait) is a run of its own, written
-- before the next step reads the lead, as before.

-- The score's path through a run's score steps.
create function private.workflow_run_points(
  start_score integer,
  profile_change integer,
  asks integer[],
  out points integer[],
  out scores integer[]
)
language plpgsql
immutable
set search_path = ''
as $$
declare
  score integer := least(greatest(start_score + profile_change, -100000), 100000);
  moved integer;
begin
  points := '{}';
  scores := '{}';
  for k in 1..coalesce(cardinality(asks), 0) loop
    moved := least(greatest(score + asks[k], -100000), 100000) - score;
    score := score + moved;
    points := points || moved;
    scores := scores || score;
  end loop;
end;
$$;
comment on function private.workflow_run_points(integer, integer, integer[]) is
  'A workflow run''s score steps from start_score: the run''s profile points first, then each step''s points asked, each kept within -100000 to 100000. Returns the points each step moved and the score after each.';
revoke all on function private.workflow_run_points(integer, integer, integer[]) from public, anon, authenticated, service_role;

-- A score step's points, checked the same way by both workers.
create function private.workflow_step_points(step jsonb)
returns integer
language plpgsql
immutable
set search_path = ''
as $$
declare
  asked constant integer := private.jsonb_integer(step -> 'points');
begin
  if asked is null or asked not between -1000 and 1000 then
    raise exception 'points: expected a whole number from -1000 to 1000, not %',
      coalesce(left((step -> 'points')::text, 100), '(missing)');
  end if;
  return asked;
end;
$$;
comment on function private.workflow_step_points(jsonb) is
  'An adjust_score step''s points: a whole number from -1000 to 1000, or an error naming what was given.';
revoke all on function private.workflow_step_points(jsonb) from public, anon, authenticated, service_role;

-- Scoring: a 'profile' trusted write keeps the score written and adds its profile points.
create or replace function private.set_lead_score()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  change integer := 0;
begin
  if tg_op = 'INSERT' then
    perform pg_advisory_xact_lock_shared(private.scoring_lock_key(new.user_id));
    new.score := least(greatest(private.lead_profile_points(new), -100000), 100000);
    return new;
  end if;
  if (new.user_id, new.email, new.first_name, new.last_name, new.company, new.phone, new.source, new.tags,
      new.custom_fields)
     is distinct from
     (old.user_id, old.email, old.first_name, old.last_name, old.company, old.phone, old.source, old.tags,
      old.custom_fields) then
    change := private.lead_profile_points(new) - private.lead_profile_points(old);
  end if;
  if current_setting('beacon.trusted_score_write', true) in ('on', 'profile') then
    new.score := least(greatest(new.score + change, -100000), 100000);
  else
    new.score := least(greatest(old.score + change, -100000), 100000);
  end if;
  return new;
end;
$$;

-- Scoring: the profile rule row's points are the profile points as the bound keeps them from
-- the old score (for a write that is not trusted, that is the whole change of score, as
-- before); 'profile' writes are ledgered like untrusted ones. The function's ledger part is
-- generated from the profile rules' SQL, so it is re-created from its current definition with
-- these parts replaced (20261208120000 did the same), failing if one is no longer there.
do $migration$
declare
  definition text := pg_get_functiondef('private.record_updated_lead_scores()'::regprocedure);
  swaps constant text[][] := array[
    array[$s$      -- Beacon's own score writes (engagement, decay, workflows, rescoring) change no
      -- profile field and ledger themselves.
      if current_setting('beacon.trusted_score_write', true) is distinct from 'on' then$s$,
          $s$      -- Beacon's own score writes ('on': engagement, decay, rescoring) change no profile
      -- field and ledger themselves; a workflow run's ('profile') ledgers its score steps, and
      -- its profile points are ledgered here.
      if current_setting('beacon.trusted_score_write', true) is distinct from 'on' then$s$],
    array[$s$      n.score - o.score,
      'rule',$s$,
          $s$      least(greatest(o.score + sum(d.points), -100000), 100000) - o.score,
      'rule',$s$],
    array[$s$        || case when n.score - o.score <> sum(d.points)
           then jsonb_build_object('score bound: kept within -100000 to 100000', n.score - o.score - sum(d.points))$s$,
          $s$        || case when least(greatest(o.score + sum(d.points), -100000), 100000) - o.score <> sum(d.points)
           then jsonb_build_object('score bound: kept within -100000 to 100000',
             least(greatest(o.score + sum(d.points), -100000), 100000) - o.score - sum(d.points))$s$]];
begin
  for k in 1..array_length(swaps, 1) loop
    if strpos(definition, swaps[k][1]) = 0 then
      raise exception 'private.record_updated_lead_scores no longer holds the text this migration replaces: %', swaps[k][1];
    end if;
    definition := replace(definition, swaps[k][1], swaps[k][2]);
  end loop;
  execute definition;
end;
$migration$;

-- The set-based worker: a run of lead steps, score steps included, is one group.
do $migration$
declare
  definition text := pg_get_functiondef('private.run_workflow_steps(private.workflow_runs[])'::regprocedure);
  before constant text := $s$if grp.definition ->> 'type' in ('add_tag', 'remove_tag', 'set_field') then$s$;
begin
  if strpos(definition, before) = 0 then
    raise exception 'private.run_workflow_steps no longer routes profile steps as this migration expects';
  end if;
  execute replace(definition, before,
    $s$if grp.definition ->> 'type' in ('add_tag', 'remove_tag', 'set_field', 'adjust_score') then$s$);
end;
$migration$;
comment on function private.run_workflow_steps(private.workflow_runs[]) is
  'Runs a batch''s executions set-based, lane by lane (each lead''s first execution, then its second, ...) in rounds (grouped by workflow step, private.run_workflow_step, or a run of lead steps, private.run_workflow_profile_steps) until none can go on; records results and parks or ends each run. A failing group raises BW001 naming its executions, with everything undone.';

-- ... so run_workflow_step no longer runs score steps.
do $migration$
declare
  definition text := pg_get_functiondef('private.run_workflow_step(uuid, uuid[], jsonb, uuid[])'::regprocedure);
  from_at constant integer := strpos(definition, $s$  when 'adjust_score' then$s$);
  to_at constant integer := strpos(definition, $s$  when 'wait' then$s$);
begin
  if from_at = 0 or to_at < from_at or strpos(definition, E'  step_points integer;\n') = 0 then
    raise exception 'private.run_workflow_step no longer holds the score step this migration removes';
  end if;
  execute replace(left(definition, from_at - 1) || substr(definition, to_at), E'  step_points integer;\n', '');
end;
$migration$;
alter type private.workflow_batch_entry drop attribute points;

create or replace function private.run_workflow_profile_steps(
  workflow uuid,
  step_chain uuid[],
  steps jsonb,
  first_step integer,
  members uuid[]
)
returns void
language plpgsql
set search_path = ''
as $$
declare
  run jsonb;
  -- The run's score steps: their places in the run and the points each asks.
  score_at integer[];
  score_asks integer[];
begin
  perform 'PRAGMA:TABLE: pg_temp.workflow_batch (like private.workflow_batch_entry)';
  -- The lead steps from first_step up to the next step of another kind.
  select jsonb_agg(s.definition order by s.n)
  into run
  from jsonb_array_elements(steps) with ordinality as s (definition, n)
  where s.n > first_step
    and s.n <= coalesce(
      (select min(o.n) - 1
       from jsonb_array_elements(steps) with ordinality as o (definition, n)
       where o.n > first_step
         and o.definition ->> 'type' not in ('add_tag', 'remove_tag', 'set_field', 'adjust_score')),
      jsonb_array_length(steps));
  score_at := array(
    select (s.n - 1)::integer
    from jsonb_array_elements(run) with ordinality as s (definition, n)
    where s.definition ->> 'type' = 'adjust_score'
    order by s.n);
  score_asks := array(
    select private.workflow_step_points(run -> a.place)
    from unnest(score_at) with ordinality as a (place, k)
    order by a.k);
  perform set_config('beacon.workflow_chain', (step_chain || workflow)::text, true);
  perform set_config('beacon.workflow_id', workflow::text, true);
  perform set_config('beacon.execution_id', '', true);
  perform set_config('beacon.change_reason', 'workflow', true);
  if cardinality(score_asks) > 0 then
    -- The score written is Beacon's own; the lead's trigger still ledgers the profile points.
    perform set_config('beacon.trusted_score_write', 'profile', true);
  end if;

  -- Each lead's tags and fields step by step, with each step's result; the run's score steps
  -- (private.workflow_run_points, as one at a time); then one update.
  with recursive folded (execution_id, lead_id, n, tags, fields, results) as (
    select b.execution_id, b.lead_id, 0, l.tags, l.custom_fields, '[]'::jsonb
    from pg_temp.workflow_batch as b
    join public.leads as l on l.id = b.lead_id
    where b.execution_id = any (members)
    union all
    select f.execution_id, f.lead_id, f.n + 1, a.tags, a.fields,
           f.results || jsonb_build_object('step', first_step + f.n, 'type', run -> f.n ->> 'type', 'at', now(),
             'status', case when (a.tags, a.fields) is not distinct from (f.tags, f.fields) then 'unchanged'
                            else 'done' end)
    from folded as f
    cross join lateral (
      select private.workflow_step_tags(f.tags, run -> f.n) as tags,
             private.workflow_step_fields(f.fields, run -> f.n) as fields
    ) as a
    where f.n < jsonb_array_length(run)
  ),
  final as (
    select f.execution_id, f.lead_id, f.tags, f.fields, f.results, l.user_id, l.score,
           case when cardinality(score_asks) > 0 then
             private.lead_profile_points(
               jsonb_populate_record(l, jsonb_build_object('tags', f.tags, 'custom_fields', f.fields)))
             - private.lead_profile_points(l)
           else 0 end as profile_change
    from folded as f
    join public.leads as l on l.id = f.lead_id
    where f.n = jsonb_array_length(run)
  ),
  settled as materialized (
    select f.*, p.points, p.scores, coalesce(p.scores[cardinality(score_asks)], f.score) as new_score
    from final as f
    cross join lateral private.workflow_run_points(f.score, f.profile_change, score_asks) as p
  ),
  ledgered as (
    insert into public.lead_score_ledger (user_id, lead_id, points, source, reason, workflow_id, execution_id)
    select s.user_id, s.lead_id, s.points[k], 'workflow', format('%s: step %s', b.workflow_name, first_step + score_at[k]),
           workflow, s.execution_id
    from settled as s
    join pg_temp.workflow_batch as b on b.execution_id = s.execution_id
    cross join generate_subscripts(score_asks, 1) as k
    where s.points[k] <> 0
  ),
  written as (
    update public.leads as l
    set tags = s.tags,
        custom_fields = s.fields,
        score = s.new_score - s.profile_change
    from settled as s
    where l.id = s.lead_id
      and ((l.tags, l.custom_fields) is distinct from (s.tags, s.fields) or l.score <> s.new_score)
  )
  update pg_temp.workflow_batch as b
  set results = b.results || (
        select jsonb_agg(case
                 when k.k is null then r.result
                 when s.points[k.k] = 0 then r.result || '{"status": "unchanged"}'
                 else r.result || jsonb_build_object('status', 'done', 'points', s.points[k.k], 'score', s.scores[k.k])
               end order by r.n)
        from jsonb_array_elements(s.results) with ordinality as r (result, n)
        left join generate_subscripts(score_at, 1) as k (k) on score_at[k.k] = r.n - 1),
      step = b.step + jsonb_array_length(run)
  from settled as s
  where b.execution_id = s.execution_id;

  perform set_config('beacon.workflow_chain', '', true);
  perform set_config('beacon.workflow_id', '', true);
  perform set_config('beacon.change_reason', '', true);
  perform set_config('beacon.trusted_score_write', '', true);
end;
$$;
comment on function private.run_workflow_profile_steps(uuid, uuid[], jsonb, integer, uuid[]) is
  'Runs a group''s consecutive lead steps (add_tag, remove_tag, set_field, adjust_score) from first_step for many executions (each on its own lead): each step''s result as the lead stood after the steps before it, the score steps'' ledger rows, one update of the leads; for private.run_workflow_steps.';

create or replace function private.run_workflow_execution(run private.workflow_runs)
returns text
language plpgsql
set search_path = ''
as $$
declare
  workflow public.workflows;
  lead public.leads;
  hook private.webhook_queue;
  steps jsonb;
  step jsonb;
  i integer := run.next_step;
  kind text;
  results jsonb := '[]'::jsonb;
  result jsonb;
  outcome text := 'completed';
  skip_next boolean := false;
  park_until timestamptz;
  hook_id uuid;
  target text;
  points integer;
  email_id uuid;
  delivery public.email_deliveries;
  content_row public.content;
  message text;
  -- The first of the lead steps (tags, fields, score) not yet written, and the lead before them.
  unwritten_from integer;
  before_unwritten public.leads;
  resume integer;
  -- The unwritten run's score steps: their step numbers, points asked and places in results.
  score_steps integer[] := '{}'::integer[];
  score_asks integer[] := '{}'::integer[];
  score_slots integer[] := '{}'::integer[];
  profile_change integer;
  run_score integer;
  settled record;
begin
  select w.* into workflow from public.workflows as w where w.id = run.workflow_id and w.user_id = run.user_id;
  if workflow.is_active is not true then
    update public.workflow_executions as e
    set status = 'failed',
        error_message = 'the workflow was deactivated before this execution finished',
        completed_at = greatest(now(), e.started_at)
    where e.id = run.execution_id;
    delete from private.workflow_runs as r where r.execution_id = run.execution_id;
    return 'failed';
  end if;
  steps := workflow.action_config -> 'steps';

  begin
    perform set_config('beacon.workflow_chain', (run.chain || run.workflow_id)::text, true);
    perform set_config('beacon.workflow_id', run.workflow_id::text, true);
    perform set_config('beacon.execution_id', run.execution_id::text, true);
    perform set_config('beacon.change_reason', 'workflow', true);

    -- Back from a webhook step: its outcome is that step's result.
    if run.waiting_for is not null then
      i := run.next_step - 1;
      kind := 'webhook';
      select q.* into hook from private.webhook_queue as q where q.id = run.waiting_for;
      if hook.status = 'pending' then
        update private.workflow_runs as r set run_after = 'infinity' where r.execution_id = run.execution_id;
        perform set_config('beacon.change_reason', '', true);
        return 'waiting';
      end if;
      delete from private.webhook_queue as q where q.id = hook.id;
      if hook.status = 'dead' or hook.id is null then
        raise exception '%', coalesce(hook.last_error, 'the webhook was lost');
      end if;
      results := results || jsonb_build_object('step', i, 'type', 'webhook', 'status', 'done', 'at', now(),
        'webhook_id', hook.id, 'http_status', hook.http_status, 'attempts', hook.attempts);
      i := run.next_step;
    end if;

    if run.lead_id is not null then
      select l.* into lead from public.leads as l where l.id = run.lead_id and l.user_id = run.user_id for update;
      if not found then
        kind := coalesce(steps -> i ->> 'type', 'start');
        raise exception 'the lead % no longer exists', run.lead_id;
      end if;
    end if;

    while i < jsonb_array_length(steps) loop
      step := steps -> i;
      kind := step ->> 'type';
      result := jsonb_build_object('step', i, 'type', kind, 'status', 'done', 'at', now());
      if skip_next then
        result := result || '{"status": "skipped", "reason": "the condition before it did not hold"}';
        skip_next := false;
      elsif lead.id is null and kind not in ('wait', 'webhook') then
        raise exception 'this execution has no lead (its trigger named none)';
      else
        case kind
        when 'set_status' then
          target := step ->> 'status';
          if lead.status = target then
            result := result || '{"status": "unchanged"}';
          elsif lead.status in ('converted', 'lost')
             or (lead.status = 'contacted' and target not in ('converted', 'lost')) then
            result := result || jsonb_build_object('status', 'skipped',
              'reason', format('workflows never move a lead back from %s', lead.status));
          else
            update public.leads as l set status = target where l.id = lead.id returning l.* into lead;
            result := result || jsonb_build_object('to', target);
          end if;
        when 'add_tag', 'remove_tag', 'set_field' then
          -- Consecutive lead steps are written as one update (below), before any other step.
          if unwritten_from is null then
            unwritten_from := i;
            before_unwritten := lead;
          end if;
          if (private.workflow_step_tags(lead.tags, step), private.workflow_step_fields(lead.custom_fields, step))
             is not distinct from (lead.tags, lead.custom_fields) then
            result := result || '{"status": "unchanged"}';
          else
            lead.tags := private.workflow_step_tags(lead.tags, step);
            lead.custom_fields := private.workflow_step_fields(lead.custom_fields, step);
          end if;
        when 'adjust_score' then
          -- Part of the run's one update: its points and result are settled when the run is
          -- written (below), within the score's bounds and ledgered as this workflow's doing.
          points := private.workflow_step_points(step);
          if unwritten_from is null then
            unwritten_from := i;
            before_unwritten := lead;
          end if;
          score_steps := score_steps || i;
          score_asks := score_asks || points;
          score_slots := score_slots || jsonb_array_length(results);
        when 'wait' then
          park_until := case when step ? 'duration' then now() + (step ->> 'duration')::interval
                             else (step ->> 'until')::timestamptz end;
          if park_until > now() then
            result := result || jsonb_build_object('status', 'waiting', 'until', park_until);
            outcome := 'waiting';
          end if;
        when 'condition' then
          if private.lead_matches(lead, step -> 'conditions') then
            result := result || '{"matched": true}';
          elsif step ->> 'otherwise' = 'skip' then
            result := result || '{"matched": false}';
            skip_next := true;
          else
            result := result || '{"matched": false, "status": "stopped"}';
            outcome := 'stopped';
          end if;
        when 'send_email' then
          content_row := null;
          if step ? 'content_id' then
            select c.* into content_row
            from public.content as c
            where c.id = (step ->> 'content_id')::uuid and c.user_id = lead.user_id;
            if not found then
              raise exception 'content % no longer exists', step ->> 'content_id';
            end if;
          end if;
          -- Through the email pipeline: a one-recipient email campaign that starts sending now.
          insert into public.email_campaigns (
            user_id, subject, content, template_id, recipient_list, send_at, status, from_email, from_name, reply_to
          )
          values (
            lead.user_id,
            coalesce(step ->> 'subject', content_row.title),
            coalesce(step ->> 'body', content_row.content),
            content_row.id,
            jsonb_build_array(jsonb_build_object('leads', jsonb_build_object('ids', jsonb_build_array(lead.id)))),
            now(),
            'scheduled',
            step ->> 'from_email',
            step ->> 'from_name',
            step ->> 'reply_to'
          )
          returning id into email_id;
          update public.email_campaigns as c set status = 'sending' where c.id = email_id;
          select d.* into delivery from public.email_deliveries as d where d.email_campaign_id = email_id;
          result := result || jsonb_build_object('email_campaign_id', email_id, 'delivery_id', delivery.id,
            'delivery_status', delivery.status);
        when 'webhook' then
          insert into private.webhook_queue (user_id, execution_id, step, url, secret_name, headers, body)
          select
            run.user_id,
            run.execution_id,
            i,
            step ->> 'url',
            coalesce(step ->> 'secret_name', 'WEBHOOK_SIGNING_SECRET'),
            coalesce(step -> 'headers', '{}'),
            jsonb_build_object(
              'type', 'workflow.webhook',
              'workflow', jsonb_build_object('id', workflow.id, 'name', workflow.name),
              'execution_id', run.execution_id,
              'step', i,
              'trigger', e.trigger_data,
              'lead', case when lead.id is not null then to_jsonb(lead) - 'user_id' end,
              'payload', coalesce(step -> 'payload', '{}'))
          from public.workflow_executions as e
          where e.id = run.execution_id
          returning id into hook_id;
          result := result || jsonb_build_object('status', 'waiting', 'webhook_id', hook_id);
          park_until := 'infinity';
          outcome := 'waiting';
        else
          raise exception 'unknown step type %', coalesce(kind, 'null');
        end case;
      end if;
      results := results || result;
      i := i + 1;
      if unwritten_from is not null
         and coalesce(steps -> i ->> 'type', '') not in ('add_tag', 'remove_tag', 'set_field', 'adjust_score') then
        profile_change := 0;
        run_score := lead.score;
        if cardinality(score_asks) > 0 then
          profile_change := private.lead_profile_points(lead) - private.lead_profile_points(before_unwritten);
          settled := private.workflow_run_points(before_unwritten.score, profile_change, score_asks);
          run_score := settled.scores[cardinality(score_asks)];
          for k in 1..cardinality(score_asks) loop
            results := jsonb_set(results, array[score_slots[k]::text], results -> score_slots[k]
              || case when settled.points[k] = 0 then '{"status": "unchanged"}'::jsonb
                      else jsonb_build_object('points', settled.points[k], 'score', settled.scores[k]) end);
          end loop;
          insert into public.lead_score_ledger (user_id, lead_id, points, source, reason, workflow_id, execution_id)
          select lead.user_id, lead.id, settled.points[k], 'workflow', format('%s: step %s', workflow.name, score_steps[k]),
                 workflow.id, run.execution_id
          from generate_subscripts(score_asks, 1) as k
          where settled.points[k] <> 0;
        end if;
        if (lead.tags, lead.custom_fields) is distinct from (before_unwritten.tags, before_unwritten.custom_fields)
           or run_score <> before_unwritten.score then
          begin
            -- 'profile': the score written is Beacon's own (ledgered below), while the profile
            -- points of the changed fields are still ledgered by the lead's trigger.
            perform set_config('beacon.trusted_score_write', 'profile', true);
            update public.leads as l
            set tags = lead.tags,
                custom_fields = lead.custom_fields,
                score = run_score - profile_change
            where l.id = lead.id
            returning l.* into lead;
            perform set_config('beacon.trusted_score_write', '', true);
          exception when others then
            -- The failing step is named by writing the steps one by one from the lead before them.
            resume := i;
            lead := before_unwritten;
            for j in unwritten_from..resume - 1 loop
              i := j;
              kind := steps -> j ->> 'type';
              update public.leads as l
              set tags = private.workflow_step_tags(l.tags, steps -> j),
                  custom_fields = private.workflow_step_fields(l.custom_fields, steps -> j)
              where l.id = lead.id
              returning l.* into lead;
            end loop;
            i := resume;
            if cardinality(score_asks) > 0 then
              perform set_config('beacon.trusted_score_write', 'on', true);
              update public.leads as l set score = run_score where l.id = lead.id returning l.* into lead;
              perform set_config('beacon.trusted_score_write', '', true);
            end if;
          end;
        end if;
        unwritten_from := null;
        score_steps := '{}';
        score_asks := '{}';
        score_slots := '{}';
      end if;
      exit when outcome <> 'completed';
    end loop;

    perform set_config('beacon.workflow_chain', '', true);
    perform set_config('beacon.workflow_id', '', true);
    perform set_config('beacon.execution_id', '', true);
    perform set_config('beacon.change_reason', '', true);

    update public.workflow_executions as e
    set step_results = e.step_results || results,
        status = case when outcome = 'waiting' then e.status else 'completed' end,
        completed_at = case when outcome = 'waiting' then null else greatest(now(), e.started_at) end
    where e.id = run.execution_id;
    if outcome = 'waiting' then
      update private.workflow_runs as r
      set next_step = i,
          run_after = park_until,
          waiting_for = hook_id
      where r.execution_id = run.execution_id;
      return 'waiting';
    end if;
    delete from private.workflow_runs as r where r.execution_id = run.execution_id;
    return 'completed';
  exception when others then
    -- Everything this execution did since it last parked is undone; it fails alone.
    get stacked diagnostics message = message_text;
    update public.workflow_executions as e
    set status = 'failed',
        error_message = left(format('steps[%s] (%s): %s', i, coalesce(kind, 'start'), message), 2000),
        completed_at = greatest(now(), e.started_at),
        step_results = e.step_results || jsonb_build_object('step', i, 'type', kind, 'status', 'failed',
          'at', now(), 'error', left(message, 1000))
    where e.id = run.execution_id;
    delete from private.workflow_runs as r where r.execution_id = run.execution_id;
    return 'failed';
  end;
end;
$$;
comment on function private.run_workflow_execution(private.workflow_runs) is
  'Runs one execution''s steps (consecutive lead steps, score steps included, written as one update) from where it stopped until it parks (wait, webhook), completes or fails; returns completed, waiting or failed.';
comment on function private.run_workflow_step(uuid, uuid[], jsonb, uuid[]) is
  'Runs one step (not a lead step: private.run_workflow_profile_steps) of one workflow for many executions (each on its own lead) with one statement per step kind, recording each one''s result in pg_temp.workflow_batch (private.run_workflow_steps).';
