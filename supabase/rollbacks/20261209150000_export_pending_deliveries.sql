-- Back to export_lead_data without the recipients of unclaimed chunks.
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
                                          'unsubscribed_at', d.unsubscribed_at) order by d.created_at)
      from public.email_deliveries as d join public.email_campaigns as c on c.id = d.email_campaign_id
      where d.user_id = lead.user_id and lower(d.email) = lead.email_normalized), '[]'),
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

drop function reporting.pending_email_deliveries(text);
