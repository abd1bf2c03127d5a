-- explain_lead_score(lead_id): why one of the caller's leads has its score, one row per
-- contribution, from its ledger: the default rule's company and phone, each scoring rule,
-- each engagement rule, engagement decay, each workflow. The points sum to the lead's
-- score. Security invoker: RLS shows the caller only her own leads and ledger.

create function public.explain_lead_score(lead_id uuid)
returns table (source text, reason text, points integer)
language plpgsql
stable
set search_path = ''
as $$
begin
  if not exists (select from public.leads as l where l.id = explain_lead_score.lead_id) then
    raise exception 'lead % not found', explain_lead_score.lead_id
      using errcode = 'P0002', hint = 'Pass the id of one of your own leads.';
  end if;
  return query
  with contributions as (
    -- Profile rows hold their contributions per rule in details.
    select g.source, d.key, g.reason, d.value::integer as points
    from public.lead_score_ledger as g
    cross join lateral jsonb_each_text(g.details) as d
    where g.lead_id = explain_lead_score.lead_id
      and g.source = 'rule'
    union all
    select g.source, coalesce(g.rule_id::text, g.workflow_id::text, ''), g.reason, g.points
    from public.lead_score_ledger as g
    where g.lead_id = explain_lead_score.lead_id
      and g.source <> 'rule'
  )
  select
    c.source,
    case c.source
      when 'rule' then case when r.id is not null then 'rule: ' || r.name
                            when c.key ~ '^[0-9a-f-]{36}$' then 'rule: (deleted)'
                            else c.key end
      when 'event' then 'engagement: ' || coalesce(r.name, min(c.reason))
      when 'decay' then 'engagement decay'
      else 'workflow: ' || coalesce(w.name, min(c.reason))
    end,
    sum(c.points)::integer
  from contributions as c
  left join public.scoring_rules as r on r.id::text = c.key
  left join public.workflows as w on w.id::text = c.key and c.source = 'workflow'
  group by c.source, c.key, r.id, r.name, w.name
  having sum(c.points) <> 0
  order by 3 desc, 2;
end;
$$;
comment on function public.explain_lead_score(uuid) is
  'Why one of the caller''s leads has its score: (source, reason, points) per contribution, summing to the score.';

revoke all on function public.explain_lead_score(uuid) from public, anon;
grant execute on function public.explain_lead_score(uuid) to authenticated, service_role;
