-- visitor_identities: which lead an anonymous visitor turned out to be. An identify sent to
-- the collect function (an email or a lead id with the visitor's anonymous_id) links them;
-- the visitor's events before it are attributed to the lead then, and later ones at insert.
-- The latest identify of an anonymous id wins; events already attributed keep their lead.

create table private.visitor_identities (
  user_id uuid not null references auth.users (id) on delete cascade,
  anonymous_id text not null,
  lead_id uuid not null references public.leads (id) on delete cascade,
  identified_at timestamptz not null default now(),
  constraint visitor_identities_pkey primary key (user_id, anonymous_id),
  constraint visitor_identities_anonymous_id_check check (anonymous_id ~ '\S' and length(anonymous_id) <= 200)
);
comment on table private.visitor_identities is
  'Anonymous visitor ids linked to the owner''s leads by identify events (collect function).';
create index visitor_identities_lead_id_idx on private.visitor_identities (lead_id);
revoke all on table private.visitor_identities from public, anon, authenticated, service_role;

-- Events that become about a lead once their visitor identifies (private.collect_events sets
-- their properties.lead_id) are scored and matched against event workflows then, by the very
-- functions that do it at insert. Only that update says so (beacon.event_attribution = 'on'
-- for its statement): other updates, such as the hourly open counter of the email pipeline,
-- must never score an event again.
create trigger score_engagement_on_attribution
after update on public.analytics_events
referencing new table as new_events
for each statement
when (current_setting('beacon.event_attribution', true) = 'on') execute function private.award_engagement();

create trigger workflows_after_event_attribution
after update on public.analytics_events
referencing new table as new_events
for each statement
when (current_setting('beacon.event_attribution', true) = 'on') execute function private.match_event_workflows();
