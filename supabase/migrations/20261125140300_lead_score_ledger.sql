-- lead_score_ledger: every change of a lead's score, with its reason. The system writes it
-- in the same statement that changes the score; the owner reads it and can neither add,
-- change nor remove a row. A lead's rows sum to its score; public.explain_lead_score
-- breaks them down by contribution.
--
--   source    rule       profile points: the lead was created or its fields changed, or its
--                        owner's rules did. One row per lead and change; details holds the
--                        contributions that changed, {"<scoring rule id>": points, ...} and
--                        "default rule: company given" / "default rule: phone given" for the
--                        default rule. A change whose contributions cancel out has points 0.
--             event      an engagement rule earned by an analytics event (rule_id, event_id)
--             decay      engagement points fading with the owner's half-life
--             workflow   an adjust_score step of a workflow (workflow_id, execution_id)
--
-- rule_id, event_id, workflow_id and execution_id are references kept as history: the row
-- stays when the rule, event or workflow is deleted. Deleting the lead deletes its rows.

create table public.lead_score_ledger (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  lead_id uuid not null references public.leads (id) on delete cascade,
  points integer not null,
  source text not null,
  reason text not null,
  details jsonb,
  rule_id uuid,
  event_id uuid,
  workflow_id uuid,
  execution_id uuid,
  created_at timestamptz not null default now(),
  constraint lead_score_ledger_points_check check (points <> 0 or source = 'rule'),
  constraint lead_score_ledger_source_check check (source in ('rule', 'event', 'decay', 'workflow')),
  constraint lead_score_ledger_reason_check check (length(reason) between 1 and 2000),
  constraint lead_score_ledger_details_check check ((source = 'rule') = (jsonb_typeof(details) = 'object'))
);
comment on table public.lead_score_ledger is
  'Every change of a lead''s score with its reason (rule, event, decay, workflow); written by the system, read by the owner.';
comment on column public.lead_score_ledger.points is 'The change of the score; a lead''s rows sum to its score.';
comment on column public.lead_score_ledger.source is
  'rule (profile points; details per rule), event (engagement, rule_id and event_id), decay, or workflow (adjust_score).';
comment on column public.lead_score_ledger.details is
  'For source rule: the profile contributions that changed, {"<scoring rule id>" | "default rule: ...": points}.';
comment on column public.lead_score_ledger.rule_id is 'The engagement rule, for source event; kept when the rule is deleted.';
comment on column public.lead_score_ledger.event_id is 'The analytics event that earned engagement points; kept when it is deleted.';

-- A lead's history (explain_lead_score, engagement caps) and the owner's recent changes.
create index lead_score_ledger_lead_id_created_at_idx on public.lead_score_ledger (lead_id, created_at desc);
create index lead_score_ledger_user_id_created_at_idx on public.lead_score_ledger (user_id, created_at desc);

select private.secure_tenant_table('public.lead_score_ledger');
grant select on table public.lead_score_ledger to authenticated;

-- The leads that exist already start their ledger with the default rule's points; any
-- difference from the score (none, while the default rule is the only one) is carried over.
insert into public.lead_score_ledger (user_id, lead_id, points, source, reason, details, created_at)
select l.user_id, l.id, l.score, 'rule', 'the score before the ledger', c.details, l.created_at
from public.leads as l
cross join lateral (
  select jsonb_strip_nulls(jsonb_build_object(
    'default rule: company given', case when l.company is not null then 10 end,
    'default rule: phone given', case when l.phone is not null then 5 end,
    'carried over', nullif(l.score - public.lead_profile_score(l), 0))) as details
) as c
where c.details <> '{}';
