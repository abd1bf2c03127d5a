-- Rollback of 20261212110000_workflow_lead_runs: score steps are writes of their own again
-- (run_workflow_step runs them set-based), and scoring ledgers no trusted write.
alter type private.workflow_batch_entry add attribute points integer;

CREATE OR REPLACE FUNCTION private.set_lead_score()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
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
  if current_setting('beacon.trusted_score_write', true) = 'on' then
    new.score := least(greatest(new.score + change, -100000), 100000);
  else
    new.score := least(greatest(old.score + change, -100000), 100000);
  end if;
  return new;
end;
$function$;

CREATE OR REPLACE FUNCTION private.record_updated_lead_scores()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO ''
AS $function$
    begin
      -- Beacon's own score writes (engagement, decay, workflows, rescoring) change no
      -- profile field and ledger themselves.
      if current_setting('beacon.trusted_score_write', true) is distinct from 'on' then
        if exists (
          select from private.applied_scoring_rules as a where a.user_id in (select n.user_id from new_leads as n)
        ) then
          
    insert into public.lead_score_ledger (user_id, lead_id, points, source, reason, details)
    select
      n.user_id,
      n.id,
      n.score - o.score,
      'rule',
      left('lead changed: ' || string_agg(d.reason || ' ' || case when d.points > 0 then '+' else '' end || d.points,
        ', ' order by d.points desc, d.reason), 2000),
      jsonb_object_agg(coalesce(d.rule_id::text, d.reason), d.points)
        || case when n.score - o.score <> sum(d.points)
           then jsonb_build_object('score bound: kept within -100000 to 100000', n.score - o.score - sum(d.points))
           else '{}' end
    from new_leads as n
    join old_leads as o on o.id = n.id
    cross join lateral (
      select
        coalesce(nc.rule_id, oc.rule_id) as rule_id,
        coalesce(nc.reason, oc.reason) as reason,
        coalesce(nc.points, 0) - coalesce(oc.points, 0) as points
      from (
      select null::uuid as rule_id, 'default rule: company given'::text as reason, 10 as points
      where n.company is not null
      union all
      select null::uuid, 'default rule: phone given'::text, 5
      where n.phone is not null
    
      union all
      select r.rule_id, r.name, r.points
      from private.applied_scoring_rules as r
      where r.user_id = n.user_id
        and coalesce(case r.kind
    when 'field_present' then (case r.field when 'email' then n.email when 'first_name' then n.first_name
      when 'last_name' then n.last_name when 'company' then n.company when 'phone' then n.phone
      when 'source' then n.source end) is not null
    when 'field_equals' then lower((case r.field when 'email' then n.email when 'first_name' then n.first_name
      when 'last_name' then n.last_name when 'company' then n.company when 'phone' then n.phone
      when 'source' then n.source end)) = r.value
    when 'field_matches' then (case r.field when 'email' then n.email when 'first_name' then n.first_name
      when 'last_name' then n.last_name when 'company' then n.company when 'phone' then n.phone
      when 'source' then n.source end) ~* r.pattern
    when 'email_domain' then case
      when r.domains is null then (lower(split_part(n.email, '@', 2)) = any ('{gmail.com,googlemail.com,yahoo.com,yahoo.co.uk,yahoo.fr,yahoo.de,ymail.com,rocketmail.com,hotmail.com,hotmail.co.uk,hotmail.fr,hotmail.de,outlook.com,outlook.fr,live.com,live.co.uk,msn.com,aol.com,icloud.com,me.com,mac.com,mail.com,email.com,gmx.com,gmx.de,gmx.net,web.de,t-online.de,yandex.com,yandex.ru,mail.ru,proton.me,protonmail.com,pm.me,zoho.com,qq.com,163.com,126.com,naver.com,orange.fr,free.fr,laposte.net,libero.it,fastmail.com,hey.com,tutanota.com,inbox.com,rediffmail.com}'::text[])) = r.free_mail
      else lower(split_part(n.email, '@', 2)) = any (r.domains)
    end
    when 'tag_present' then r.tag = any (n.tags)
    when 'custom_field' then coalesce(case r.op
    when 'exists' then jsonb_typeof((n.custom_fields -> r.field)) <> 'null'
    when 'not_exists' then (n.custom_fields -> r.field) is null or jsonb_typeof((n.custom_fields -> r.field)) = 'null'
    when 'eq' then (n.custom_fields -> r.field) = r.expected
    when 'neq' then (n.custom_fields -> r.field) is distinct from r.expected
    when 'in' then r.expected @> jsonb_build_array((n.custom_fields -> r.field))
    when 'contains' then case jsonb_typeof((n.custom_fields -> r.field))
      when 'string' then strpos(lower((n.custom_fields -> r.field) #>> '{}'), lower(r.expected #>> '{}')) > 0
      when 'array' then (n.custom_fields -> r.field) @> jsonb_build_array(r.expected)
    end
    else case
      when jsonb_typeof(r.expected) = 'number' then case r.op
        when 'gt' then (case when jsonb_typeof((n.custom_fields -> r.field)) = 'number' then ((n.custom_fields -> r.field))::numeric
      when jsonb_typeof((n.custom_fields -> r.field)) = 'string' and (n.custom_fields -> r.field) #>> '{}' ~ '^\s*-?[0-9]+(\.[0-9]+)?\s*$'
      then ((n.custom_fields -> r.field) #>> '{}')::numeric end) > (r.expected)::numeric
        when 'gte' then (case when jsonb_typeof((n.custom_fields -> r.field)) = 'number' then ((n.custom_fields -> r.field))::numeric
      when jsonb_typeof((n.custom_fields -> r.field)) = 'string' and (n.custom_fields -> r.field) #>> '{}' ~ '^\s*-?[0-9]+(\.[0-9]+)?\s*$'
      then ((n.custom_fields -> r.field) #>> '{}')::numeric end) >= (r.expected)::numeric
        when 'lt' then (case when jsonb_typeof((n.custom_fields -> r.field)) = 'number' then ((n.custom_fields -> r.field))::numeric
      when jsonb_typeof((n.custom_fields -> r.field)) = 'string' and (n.custom_fields -> r.field) #>> '{}' ~ '^\s*-?[0-9]+(\.[0-9]+)?\s*$'
      then ((n.custom_fields -> r.field) #>> '{}')::numeric end) < (r.expected)::numeric
        when 'lte' then (case when jsonb_typeof((n.custom_fields -> r.field)) = 'number' then ((n.custom_fields -> r.field))::numeric
      when jsonb_typeof((n.custom_fields -> r.field)) = 'string' and (n.custom_fields -> r.field) #>> '{}' ~ '^\s*-?[0-9]+(\.[0-9]+)?\s*$'
      then ((n.custom_fields -> r.field) #>> '{}')::numeric end) <= (r.expected)::numeric
      end
      when jsonb_typeof(r.expected) = 'string' and jsonb_typeof((n.custom_fields -> r.field)) = 'string' then case r.op
        when 'gt' then (n.custom_fields -> r.field) #>> '{}' > r.expected #>> '{}'
        when 'gte' then (n.custom_fields -> r.field) #>> '{}' >= r.expected #>> '{}'
        when 'lt' then (n.custom_fields -> r.field) #>> '{}' < r.expected #>> '{}'
        when 'lte' then (n.custom_fields -> r.field) #>> '{}' <= r.expected #>> '{}'
      end
    end
  end, false)
  end, false)
    ) as nc
      full join (
      select null::uuid as rule_id, 'default rule: company given'::text as reason, 10 as points
      where o.company is not null
      union all
      select null::uuid, 'default rule: phone given'::text, 5
      where o.phone is not null
    
      union all
      select r.rule_id, r.name, r.points
      from private.applied_scoring_rules as r
      where r.user_id = o.user_id
        and coalesce(case r.kind
    when 'field_present' then (case r.field when 'email' then o.email when 'first_name' then o.first_name
      when 'last_name' then o.last_name when 'company' then o.company when 'phone' then o.phone
      when 'source' then o.source end) is not null
    when 'field_equals' then lower((case r.field when 'email' then o.email when 'first_name' then o.first_name
      when 'last_name' then o.last_name when 'company' then o.company when 'phone' then o.phone
      when 'source' then o.source end)) = r.value
    when 'field_matches' then (case r.field when 'email' then o.email when 'first_name' then o.first_name
      when 'last_name' then o.last_name when 'company' then o.company when 'phone' then o.phone
      when 'source' then o.source end) ~* r.pattern
    when 'email_domain' then case
      when r.domains is null then (lower(split_part(o.email, '@', 2)) = any ('{gmail.com,googlemail.com,yahoo.com,yahoo.co.uk,yahoo.fr,yahoo.de,ymail.com,rocketmail.com,hotmail.com,hotmail.co.uk,hotmail.fr,hotmail.de,outlook.com,outlook.fr,live.com,live.co.uk,msn.com,aol.com,icloud.com,me.com,mac.com,mail.com,email.com,gmx.com,gmx.de,gmx.net,web.de,t-online.de,yandex.com,yandex.ru,mail.ru,proton.me,protonmail.com,pm.me,zoho.com,qq.com,163.com,126.com,naver.com,orange.fr,free.fr,laposte.net,libero.it,fastmail.com,hey.com,tutanota.com,inbox.com,rediffmail.com}'::text[])) = r.free_mail
      else lower(split_part(o.email, '@', 2)) = any (r.domains)
    end
    when 'tag_present' then r.tag = any (o.tags)
    when 'custom_field' then coalesce(case r.op
    when 'exists' then jsonb_typeof((o.custom_fields -> r.field)) <> 'null'
    when 'not_exists' then (o.custom_fields -> r.field) is null or jsonb_typeof((o.custom_fields -> r.field)) = 'null'
    when 'eq' then (o.custom_fields -> r.field) = r.expected
    when 'neq' then (o.custom_fields -> r.field) is distinct from r.expected
    when 'in' then r.expected @> jsonb_build_array((o.custom_fields -> r.field))
    when 'contains' then case jsonb_typeof((o.custom_fields -> r.field))
      when 'string' then strpos(lower((o.custom_fields -> r.field) #>> '{}'), lower(r.expected #>> '{}')) > 0
      when 'array' then (o.custom_fields -> r.field) @> jsonb_build_array(r.expected)
    end
    else case
      when jsonb_typeof(r.expected) = 'number' then case r.op
        when 'gt' then (case when jsonb_typeof((o.custom_fields -> r.field)) = 'number' then ((o.custom_fields -> r.field))::numeric
      when jsonb_typeof((o.custom_fields -> r.field)) = 'string' and (o.custom_fields -> r.field) #>> '{}' ~ '^\s*-?[0-9]+(\.[0-9]+)?\s*$'
      then ((o.custom_fields -> r.field) #>> '{}')::numeric end) > (r.expected)::numeric
        when 'gte' then (case when jsonb_typeof((o.custom_fields -> r.field)) = 'number' then ((o.custom_fields -> r.field))::numeric
      when jsonb_typeof((o.custom_fields -> r.field)) = 'string' and (o.custom_fields -> r.field) #>> '{}' ~ '^\s*-?[0-9]+(\.[0-9]+)?\s*$'
      then ((o.custom_fields -> r.field) #>> '{}')::numeric end) >= (r.expected)::numeric
        when 'lt' then (case when jsonb_typeof((o.custom_fields -> r.field)) = 'number' then ((o.custom_fields -> r.field))::numeric
      when jsonb_typeof((o.custom_fields -> r.field)) = 'string' and (o.custom_fields -> r.field) #>> '{}' ~ '^\s*-?[0-9]+(\.[0-9]+)?\s*$'
      then ((o.custom_fields -> r.field) #>> '{}')::numeric end) < (r.expected)::numeric
        when 'lte' then (case when jsonb_typeof((o.custom_fields -> r.field)) = 'number' then ((o.custom_fields -> r.field))::numeric
      when jsonb_typeof((o.custom_fields -> r.field)) = 'string' and (o.custom_fields -> r.field) #>> '{}' ~ '^\s*-?[0-9]+(\.[0-9]+)?\s*$'
      then ((o.custom_fields -> r.field) #>> '{}')::numeric end) <= (r.expected)::numeric
      end
      when jsonb_typeof(r.expected) = 'string' and jsonb_typeof((o.custom_fields -> r.field)) = 'string' then case r.op
        when 'gt' then (o.custom_fields -> r.field) #>> '{}' > r.expected #>> '{}'
        when 'gte' then (o.custom_fields -> r.field) #>> '{}' >= r.expected #>> '{}'
        when 'lt' then (o.custom_fields -> r.field) #>> '{}' < r.expected #>> '{}'
        when 'lte' then (o.custom_fields -> r.field) #>> '{}' <= r.expected #>> '{}'
      end
    end
  end, false)
  end, false)
    ) as oc
        on coalesce(nc.rule_id::text, nc.reason) = coalesce(oc.rule_id::text, oc.reason)
    ) as d
    where (n.user_id, n.email, n.first_name, n.last_name, n.company, n.phone, n.source, n.tags, n.custom_fields)
          is distinct from
          (o.user_id, o.email, o.first_name, o.last_name, o.company, o.phone, o.source, o.tags, o.custom_fields)
      and d.points <> 0
    group by n.user_id, n.id, n.score, o.score
  ;
        else
          
    insert into public.lead_score_ledger (user_id, lead_id, points, source, reason, details)
    select
      n.user_id,
      n.id,
      n.score - o.score,
      'rule',
      left('lead changed: ' || string_agg(d.reason || ' ' || case when d.points > 0 then '+' else '' end || d.points,
        ', ' order by d.points desc, d.reason), 2000),
      jsonb_object_agg(coalesce(d.rule_id::text, d.reason), d.points)
        || case when n.score - o.score <> sum(d.points)
           then jsonb_build_object('score bound: kept within -100000 to 100000', n.score - o.score - sum(d.points))
           else '{}' end
    from new_leads as n
    join old_leads as o on o.id = n.id
    cross join lateral (
      select
        coalesce(nc.rule_id, oc.rule_id) as rule_id,
        coalesce(nc.reason, oc.reason) as reason,
        coalesce(nc.points, 0) - coalesce(oc.points, 0) as points
      from (
      select null::uuid as rule_id, 'default rule: company given'::text as reason, 10 as points
      where n.company is not null
      union all
      select null::uuid, 'default rule: phone given'::text, 5
      where n.phone is not null
    ) as nc
      full join (
      select null::uuid as rule_id, 'default rule: company given'::text as reason, 10 as points
      where o.company is not null
      union all
      select null::uuid, 'default rule: phone given'::text, 5
      where o.phone is not null
    ) as oc
        on coalesce(nc.rule_id::text, nc.reason) = coalesce(oc.rule_id::text, oc.reason)
    ) as d
    where (n.user_id, n.email, n.first_name, n.last_name, n.company, n.phone, n.source, n.tags, n.custom_fields)
          is distinct from
          (o.user_id, o.email, o.first_name, o.last_name, o.company, o.phone, o.source, o.tags, o.custom_fields)
      and d.points <> 0
    group by n.user_id, n.id, n.score, o.score
  ;
        end if;
      end if;

      -- Reaching the threshold is crossing it: a lead the owner put back to new stays new.
      perform private.qualify_leads(array(
        select c.id
        from (
          select n.id, n.user_id, n.score, true as after
          from new_leads as n
          where n.status = 'new'
          union all
          select o.id, o.user_id, o.score, false
          from old_leads as o
          where o.status = 'new'
        ) as c
        join public.scoring_settings as s on s.user_id = c.user_id
        group by c.id, s.qualification_threshold
        having bool_or(c.after and c.score >= s.qualification_threshold)
           and bool_or(not c.after and c.score < s.qualification_threshold)
      ));
      return null;
    end;
    $function$;

CREATE OR REPLACE FUNCTION private.run_workflow_steps(runs private.workflow_runs[])
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
declare
  lanes integer;
  heads uuid[];
  failing uuid[];
  grp record;
begin
  if cardinality(runs) = 0 then
    return;
  end if;
  perform 'PRAGMA:TABLE: pg_temp.workflow_batch (like private.workflow_batch_entry)';
  create temp table workflow_batch (like private.workflow_batch_entry, primary key (execution_id)) on commit drop;
  insert into pg_temp.workflow_batch (
    execution_id, lane, workflow_id, workflow_name, user_id, lead_id, chain, steps, step, state, skip_next, results
  )
  select r.execution_id, row_number() over (partition by r.lead_id order by r.ordinality),
         r.workflow_id, w.name, r.user_id, r.lead_id, r.chain, w.action_config -> 'steps', r.next_step, 'run', false, '[]'
  from unnest(runs) with ordinality as r
  join public.workflows as w on w.id = r.workflow_id and w.user_id = r.user_id;
  analyze pg_temp.workflow_batch;
  select max(b.lane) into lanes from pg_temp.workflow_batch as b;

  begin
    for lane_now in 1..coalesce(lanes, 0) loop
      loop
        update pg_temp.workflow_batch as b
        set state = 'done'
        where b.lane = lane_now and b.state = 'run' and b.step >= jsonb_array_length(b.steps);
        heads := array(
          select b.execution_id from pg_temp.workflow_batch as b where b.lane = lane_now and b.state = 'run');
        exit when cardinality(heads) = 0;
        -- The step after a condition that did not hold ("otherwise": "skip"): its round is the skip.
        with skipped as (
          update pg_temp.workflow_batch as b
          set results = b.results || jsonb_build_object('step', b.step, 'type', b.steps -> b.step ->> 'type',
                'status', 'skipped', 'at', now(), 'reason', 'the condition before it did not hold'),
              skip_next = false,
              step = b.step + 1
          where b.execution_id = any (heads) and b.skip_next
          returning b.execution_id
        )
        select array(select h from unnest(heads) as h except select s.execution_id from skipped as s) into heads;
        for grp in
          select b.workflow_id, b.workflow_name, b.chain, b.steps, b.step, b.steps -> b.step as definition,
                 array_agg(b.execution_id) as members
          from pg_temp.workflow_batch as b
          where b.execution_id = any (heads)
          group by b.workflow_id, b.workflow_name, b.chain, b.steps, b.step
        loop
          failing := grp.members;
          if grp.definition ->> 'type' in ('add_tag', 'remove_tag', 'set_field') then
            perform private.run_workflow_profile_steps(grp.workflow_id, grp.chain, grp.steps, grp.step, grp.members);
          else
            perform private.run_workflow_step(grp.workflow_id, grp.chain, grp.definition, grp.members);
          end if;
        end loop;
        failing := null;
      end loop;
    end loop;
  exception when others then
    raise exception 'a workflow step failed for a group of executions'
      using errcode = 'BW001', detail = coalesce(failing, '{}')::text;
  end;

  update public.workflow_executions as e
  set step_results = e.step_results || b.results,
      status = case when b.state = 'waiting' then e.status else 'completed' end,
      completed_at = case when b.state = 'waiting' then null else greatest(now(), e.started_at) end
  from pg_temp.workflow_batch as b
  where e.id = b.execution_id;
  update private.workflow_runs as r
  set next_step = b.step,
      run_after = b.park_until,
      waiting_for = b.hook_id
  from pg_temp.workflow_batch as b
  where r.execution_id = b.execution_id and b.state = 'waiting';
  delete from private.workflow_runs as r
  using pg_temp.workflow_batch as b
  where r.execution_id = b.execution_id and b.state = 'done';
  drop table pg_temp.workflow_batch;
end;
$function$;

CREATE OR REPLACE FUNCTION private.run_workflow_step(workflow uuid, step_chain uuid[], definition jsonb, members uuid[])
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
declare
  kind constant text := definition ->> 'type';
  owner uuid;
  group_leads uuid[];
  target text;
  step_points integer;
  until_at timestamptz;
  email_id uuid;
  content_row public.content;
begin
  perform 'PRAGMA:TABLE: pg_temp.workflow_batch (like private.workflow_batch_entry)';
  select (array_agg(b.user_id))[1], array_agg(b.lead_id)
  into owner, group_leads
  from pg_temp.workflow_batch as b
  where b.execution_id = any (members);
  perform set_config('beacon.workflow_chain', (step_chain || workflow)::text, true);
  perform set_config('beacon.workflow_id', workflow::text, true);
  perform set_config('beacon.execution_id', '', true);
  perform set_config('beacon.change_reason', 'workflow', true);

  case kind
  when 'set_status' then
    target := definition ->> 'status';
    perform set_config('beacon.lead_executions', (
      select jsonb_object_agg(b.lead_id, b.execution_id)
      from pg_temp.workflow_batch as b
      where b.execution_id = any (members))::text, true);
    with before_step as (
      select
        b.execution_id,
        b.lead_id,
        l.status,
        case
          when l.status = target then 'unchanged'
          when l.status in ('converted', 'lost')
            or (l.status = 'contacted' and target not in ('converted', 'lost')) then 'skipped'
          else 'changed'
        end as outcome
      from pg_temp.workflow_batch as b
      join public.leads as l on l.id = b.lead_id
      where b.execution_id = any (members)
    ),
    u as (
      update public.leads as l
      set status = target
      from before_step as s
      where l.id = s.lead_id
        and s.outcome = 'changed'
    )
    update pg_temp.workflow_batch as b
    set results = b.results || (
          jsonb_build_object('step', b.step, 'type', kind, 'status', 'done', 'at', now())
          || case s.outcome
               when 'unchanged' then '{"status": "unchanged"}'::jsonb
               when 'skipped' then jsonb_build_object('status', 'skipped',
                 'reason', format('workflows never move a lead back from %s', s.status))
               else jsonb_build_object('to', target)
             end),
        step = b.step + 1
    from before_step as s
    where b.execution_id = s.execution_id;
  when 'adjust_score' then
    -- Within the score's bounds (leads_score_check), ledgered as this workflow's doing.
    step_points := private.jsonb_integer(definition -> 'points');
    if step_points is null or step_points not between -1000 and 1000 then
      raise exception 'points: expected a whole number from -1000 to 1000, not %',
        coalesce(left((definition -> 'points')::text, 100), '(missing)');
    end if;
    update pg_temp.workflow_batch as b
    set points = greatest(-100000 - l.score, least(100000 - l.score, step_points))
    from public.leads as l
    where b.execution_id = any (members)
      and l.id = b.lead_id;
    insert into public.lead_score_ledger (user_id, lead_id, points, source, reason, workflow_id, execution_id)
    select b.user_id, b.lead_id, b.points, 'workflow', format('%s: step %s', b.workflow_name, b.step), workflow,
           b.execution_id
    from pg_temp.workflow_batch as b
    where b.execution_id = any (members)
      and b.points <> 0;
    perform set_config('beacon.trusted_score_write', 'on', true);
    with u as (
      update public.leads as l
      set score = l.score + b.points
      from pg_temp.workflow_batch as b
      where b.execution_id = any (members)
        and l.id = b.lead_id
        and b.points <> 0
      returning l.id, l.score
    )
    update pg_temp.workflow_batch as b
    set results = b.results || (
          jsonb_build_object('step', b.step, 'type', kind, 'status', 'done', 'at', now())
          || case when u.id is null then '{"status": "unchanged"}'::jsonb
                  else jsonb_build_object('points', b.points, 'score', u.score) end),
        step = b.step + 1
    from pg_temp.workflow_batch as m
    left join u on u.id = m.lead_id
    where m.execution_id = any (members)
      and b.execution_id = m.execution_id;
    perform set_config('beacon.trusted_score_write', '', true);
  when 'wait' then
    until_at := case when definition ? 'duration' then now() + (definition ->> 'duration')::interval
                     else (definition ->> 'until')::timestamptz end;
    update pg_temp.workflow_batch as b
    set results = b.results || (
          jsonb_build_object('step', b.step, 'type', kind, 'status', 'done', 'at', now())
          || case when until_at > now() then jsonb_build_object('status', 'waiting', 'until', until_at)
                  else '{}'::jsonb end),
        state = case when until_at > now() then 'waiting' else b.state end,
        park_until = until_at,
        step = b.step + 1
    where b.execution_id = any (members);
  when 'condition' then
    update pg_temp.workflow_batch as b
    set results = b.results || (
          jsonb_build_object('step', b.step, 'type', kind, 'status', 'done', 'at', now())
          || case when h.lead_id is not null then '{"matched": true}'::jsonb
                  when definition ->> 'otherwise' = 'skip' then '{"matched": false}'::jsonb
                  else '{"matched": false, "status": "stopped"}'::jsonb end),
        skip_next = h.lead_id is null and coalesce(definition ->> 'otherwise' = 'skip', false),
        state = case when h.lead_id is null and coalesce(definition ->> 'otherwise' = 'skip', false) is false
                     then 'done' else b.state end,
        step = b.step + 1
    from pg_temp.workflow_batch as m
    left join private.workflow_conditions_hold(group_leads, definition -> 'conditions') as h (lead_id)
      on h.lead_id = m.lead_id
    where m.execution_id = any (members)
      and b.execution_id = m.execution_id;
  when 'send_email' then
    if definition ? 'content_id' then
      select c.* into content_row
      from public.content as c
      where c.id = (definition ->> 'content_id')::uuid and c.user_id = owner;
      if not found then
        raise exception 'content % no longer exists', definition ->> 'content_id';
      end if;
    end if;
    -- Through the email pipeline: one email campaign for the step's leads in this batch, sending now.
    insert into public.email_campaigns (
      user_id, subject, content, template_id, recipient_list, send_at, status, from_email, from_name, reply_to
    )
    values (
      owner,
      coalesce(definition ->> 'subject', content_row.title),
      coalesce(definition ->> 'body', content_row.content),
      content_row.id,
      jsonb_build_array(jsonb_build_object('leads', jsonb_build_object('ids', to_jsonb(group_leads)))),
      now(),
      'scheduled',
      definition ->> 'from_email',
      definition ->> 'from_name',
      definition ->> 'reply_to'
    )
    returning id into email_id;
    update public.email_campaigns as c set status = 'sending' where c.id = email_id;
    update pg_temp.workflow_batch as b
    set results = b.results || (
          jsonb_build_object('step', b.step, 'type', kind, 'status', 'done', 'at', now())
          || jsonb_build_object('email_campaign_id', email_id, 'delivery_id', d.id, 'delivery_status', d.status)),
        step = b.step + 1
    from pg_temp.workflow_batch as m
    left join public.email_deliveries as d on d.email_campaign_id = email_id and d.lead_id = m.lead_id
    where m.execution_id = any (members)
      and b.execution_id = m.execution_id;
  when 'webhook' then
    with hooks as (
      insert into private.webhook_queue (user_id, execution_id, step, url, secret_name, headers, body)
      select
        b.user_id,
        b.execution_id,
        b.step,
        definition ->> 'url',
        coalesce(definition ->> 'secret_name', 'WEBHOOK_SIGNING_SECRET'),
        coalesce(definition -> 'headers', '{}'),
        jsonb_build_object(
          'type', 'workflow.webhook',
          'workflow', jsonb_build_object('id', workflow, 'name', b.workflow_name),
          'execution_id', b.execution_id,
          'step', b.step,
          'trigger', e.trigger_data,
          'lead', to_jsonb(l) - 'user_id',
          'payload', coalesce(definition -> 'payload', '{}'))
      from pg_temp.workflow_batch as b
      join public.workflow_executions as e on e.id = b.execution_id
      join public.leads as l on l.id = b.lead_id
      where b.execution_id = any (members)
      returning id, execution_id
    )
    update pg_temp.workflow_batch as b
    set results = b.results || (
          jsonb_build_object('step', b.step, 'type', kind, 'status', 'waiting', 'at', now(), 'webhook_id', h.id)),
        state = 'waiting',
        park_until = 'infinity',
        hook_id = h.id,
        step = b.step + 1
    from hooks as h
    where b.execution_id = h.execution_id;
  else
    raise exception 'unknown step type %', coalesce(kind, 'null');
  end case;

  perform set_config('beacon.workflow_chain', '', true);
  perform set_config('beacon.workflow_id', '', true);
  perform set_config('beacon.change_reason', '', true);
  perform set_config('beacon.lead_executions', '', true);
end;
$function$;

CREATE OR REPLACE FUNCTION private.run_workflow_profile_steps(workflow uuid, step_chain uuid[], steps jsonb, first_step integer, members uuid[])
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
declare
  run jsonb;
begin
  perform 'PRAGMA:TABLE: pg_temp.workflow_batch (like private.workflow_batch_entry)';
  -- The profile steps from first_step up to the next step of another kind.
  select jsonb_agg(s.definition order by s.n)
  into run
  from jsonb_array_elements(steps) with ordinality as s (definition, n)
  where s.n > first_step
    and s.n <= coalesce(
      (select min(o.n) - 1
       from jsonb_array_elements(steps) with ordinality as o (definition, n)
       where o.n > first_step and o.definition ->> 'type' not in ('add_tag', 'remove_tag', 'set_field')),
      jsonb_array_length(steps));
  perform set_config('beacon.workflow_chain', (step_chain || workflow)::text, true);
  perform set_config('beacon.workflow_id', workflow::text, true);
  perform set_config('beacon.execution_id', '', true);
  perform set_config('beacon.change_reason', 'workflow', true);

  -- Each lead's tags and fields step by step, with each step's result; then one update.
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
    select f.execution_id, f.lead_id, f.tags, f.fields, f.results
    from folded as f
    where f.n = jsonb_array_length(run)
  ),
  written as (
    update public.leads as l
    set tags = f.tags,
        custom_fields = f.fields
    from final as f
    where l.id = f.lead_id
      and (l.tags, l.custom_fields) is distinct from (f.tags, f.fields)
  )
  update pg_temp.workflow_batch as b
  set results = b.results || f.results,
      step = b.step + jsonb_array_length(run)
  from final as f
  where b.execution_id = f.execution_id;

  perform set_config('beacon.workflow_chain', '', true);
  perform set_config('beacon.workflow_id', '', true);
  perform set_config('beacon.change_reason', '', true);
end;
$function$;

CREATE OR REPLACE FUNCTION private.run_workflow_execution(run private.workflow_runs)
 RETURNS text
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$
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
  -- The first of the profile steps (tags, fields) not yet written, and the lead before them.
  unwritten_from integer;
  before_unwritten public.leads;
  resume integer;
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
          -- Consecutive profile steps are written as one update (below), before any other step.
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
          -- Within the score's bounds, and ledgered as this workflow's doing.
          points := private.jsonb_integer(step -> 'points');
          if points is null or points not between -1000 and 1000 then
            raise exception 'points: expected a whole number from -1000 to 1000, not %',
              coalesce(left((step -> 'points')::text, 100), '(missing)');
          end if;
          -- The score column's range (leads_score_check): the step moves the score at most to a bound.
          points := greatest(-100000 - lead.score, least(100000 - lead.score, points));
          if points = 0 then
            result := result || '{"status": "unchanged"}';
          else
            insert into public.lead_score_ledger (user_id, lead_id, points, source, reason, workflow_id, execution_id)
            values (lead.user_id, lead.id, points, 'workflow', format('%s: step %s', workflow.name, i), workflow.id,
                    run.execution_id);
            perform set_config('beacon.trusted_score_write', 'on', true);
            update public.leads as l set score = l.score + points where l.id = lead.id returning l.* into lead;
            perform set_config('beacon.trusted_score_write', '', true);
            result := result || jsonb_build_object('points', points, 'score', lead.score);
          end if;
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
         and coalesce(steps -> i ->> 'type', '') not in ('add_tag', 'remove_tag', 'set_field') then
        if (lead.tags, lead.custom_fields) is distinct from (before_unwritten.tags, before_unwritten.custom_fields) then
          begin
            update public.leads as l
            set tags = lead.tags,
                custom_fields = lead.custom_fields
            where l.id = lead.id
            returning l.* into lead;
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
          end;
        end if;
        unwritten_from := null;
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
$function$;
comment on function private.run_workflow_steps(private.workflow_runs[]) is
  'Runs a batch''s executions set-based, lane by lane (each lead''s first execution, then its second, ...) in rounds (grouped by workflow step, private.run_workflow_step, or a run of profile steps, private.run_workflow_profile_steps) until none can go on; records results and parks or ends each run. A failing group raises BW001 naming its executions, with everything undone.';
comment on function private.run_workflow_step(uuid, uuid[], jsonb, uuid[]) is
  'Runs one step (not a profile step: private.run_workflow_profile_steps) of one workflow for many executions (each on its own lead) with one statement per step kind, recording each one''s result in pg_temp.workflow_batch (private.run_workflow_steps).';
comment on function private.run_workflow_profile_steps(uuid, uuid[], jsonb, integer, uuid[]) is
  'Runs a group''s consecutive profile steps (add_tag, remove_tag, set_field) from first_step for many executions (each on its own lead): each step''s result as the lead stood after the steps before it, one update of the leads; for private.run_workflow_steps.';
comment on function private.run_workflow_execution(private.workflow_runs) is
  'Runs one execution''s steps (consecutive profile steps written as one update) from where it stopped until it parks (wait, webhook), completes or fails; returns completed, waiting or failed.';
drop function private.workflow_run_points(integer, integer, integer[]);
drop function private.workflow_step_points(jsonb);
