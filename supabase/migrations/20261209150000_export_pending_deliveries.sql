-- A large campaign writes a chunk's deliveries when the chunk is first claimed
-- (20261209120000_email_deliveries_at_first_claim); until then (a chunk due later, or held by a
-- paused campaign) a recipient is held only in the chunk's payload, which the caller cannot read.
-- export_lead_data promises everything held about a lead, so it lists those recipients too,
-- with status 'queued', after the written deliveries.
--
-- reporting.pending_email_deliveries reads the caller's own chunks as the definer (private.jobs
-- is closed to clients), like reporting.event_days reads the caller's rollups.
create function reporting.pending_email_deliveries(email_normalized text)
returns table (email_campaign_id uuid, email text)
language sql
stable
security definer
set search_path = ''
as $$
  select j.subject_id, r.email
  from private.jobs as j
  cross join lateral jsonb_array_elements_text(j.payload -> 'recipients' -> 'email') as r (email)
  where j.user_id = (select auth.uid())
    and j.kind = 'email'
    and j.payload ? 'recipients'
    and lower(r.email) = pending_email_deliveries.email_normalized
$$;
comment on function reporting.pending_email_deliveries(text) is
  'The caller''s recipients on address email_normalized held in email chunks not claimed yet (their deliveries are written at the first claim), by campaign.';
revoke all on function reporting.pending_email_deliveries(text) from public, anon, authenticated, service_role;
grant execute on function reporting.pending_email_deliveries(text) to authenticated;

create or replace function public.export_lead_data(lead_id uuid) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  lead public.leads;
  result jsonb;
begin
  select l.* into lead from public.leads as l where l.id = export_lead_data.lead_id;
  if lead.id is null then
    raise exception using
      errcode = 'no_data_found',
      message = format('export_lead_data: you have no lead %s', lead_id);
  end if;
  select jsonb_build_object(
    'exported_at', now(),
    'lead', to_jsonb(lead) - 'user_id',
    'consents', coalesce((
      select jsonb_agg(to_jsonb(c) - 'user_id' - 'lead_id' order by c.created_at)
      from public.consents as c where c.lead_id = lead.id), '[]'),
    'lists', coalesce((
      select jsonb_agg(jsonb_build_object('list', li.name, 'subscribed_at', m.subscribed_at,
                                          'unsubscribed_at', m.unsubscribed_at) order by li.name)
      from public.list_memberships as m join public.lists as li on li.id = m.list_id
      where m.lead_id = lead.id), '[]'),
    'email_deliveries', coalesce((
      select jsonb_agg(jsonb_build_object('email_campaign_id', d.email_campaign_id, 'subject', c.subject,
                                          'email', d.email, 'status', d.status, 'sent_at', d.sent_at,
                                          'opened_at', d.opened_at, 'clicked_at', d.clicked_at,
                                          'unsubscribed_at', d.unsubscribed_at) order by d.written desc, d.created_at)
      from (
        select w.email_campaign_id, w.email, w.status, w.sent_at, w.opened_at, w.clicked_at,
               w.unsubscribed_at, w.created_at, true as written
        from public.email_deliveries as w
        where w.user_id = lead.user_id and lower(w.email) = lead.email_normalized
        union all
        -- Recipients of a large campaign whose chunk is not claimed yet: held in the chunk alone.
        select p.email_campaign_id, p.email, 'queued', null, null, null, null, null, false
        from reporting.pending_email_deliveries(lead.email_normalized) as p
      ) as d
      join public.email_campaigns as c on c.id = d.email_campaign_id), '[]'),
    'suppressions', coalesce((
      select jsonb_agg(jsonb_build_object('email', s.email, 'reason', s.reason, 'created_at', s.created_at))
      from public.email_suppressions as s
      where s.user_id = lead.user_id and lower(s.email) = lead.email_normalized), '[]'),
    'events', coalesce((
      select jsonb_agg(to_jsonb(a) - 'user_id' order by a."timestamp")
      from public.analytics_events as a
      where a.user_id = lead.user_id
        and (a.properties ->> 'lead_id' = lead.id::text or lower(a.properties ->> 'email') = lead.email_normalized)),
      '[]'),
    'score_ledger', coalesce((
      select jsonb_agg(jsonb_build_object('points', g.points, 'source', g.source, 'reason', g.reason,
                                          'created_at', g.created_at) order by g.created_at)
      from public.lead_score_ledger as g where g.lead_id = lead.id), '[]'),
    'status_history', coalesce((
      select jsonb_agg(to_jsonb(h) - 'user_id' - 'lead_id' order by h.changed_at)
      from public.lead_status_history as h where h.lead_id = lead.id), '[]'),
    'workflow_executions', coalesce((
      select jsonb_agg(jsonb_build_object('workflow', w.name, 'status', e.status, 'started_at', e.started_at,
                                          'completed_at', e.completed_at) order by e.started_at)
      from public.workflow_executions as e join public.workflows as w on w.id = e.workflow_id
      where e.user_id = lead.user_id and e.trigger_data ->> 'lead_id' = lead.id::text), '[]')
  )
  into result;
  return result;
end;
$$;
