-- A segment's members (issue 12): public.segment_leads(segment_id) returns the caller's leads in
-- one of their segments now, the rows segment_count counts, in one set-based query compiled the
-- same way (segmenting.predicate_sql). GET /functions/v1/leads/export?segment=<id> streams them
-- as CSV; apps may call it too (PostgREST paginates it like a table).

create function public.segment_leads(segment_id uuid)
returns setof public.leads
language plpgsql
stable
set search_path = ''
as $$
declare
  found_predicate jsonb;
begin
  select s.predicate into found_predicate from public.segments as s where s.id = segment_leads.segment_id;
  if not found then
    raise exception using errcode = 'no_data_found',
      message = format('segment_leads: no segment %s among yours', coalesce(segment_leads.segment_id::text, 'null'));
  end if;
  return query execute format('select l.* from public.leads as l where l.user_id = (select auth.uid()) and %s',
    segmenting.predicate_sql('segment_leads', found_predicate));
end;
$$;
comment on function public.segment_leads(uuid) is
  'The caller''s leads in one of their segments now (security invoker: RLS applies; the rows segment_count counts).';
revoke all on function public.segment_leads(uuid) from public, anon, authenticated, service_role;
grant execute on function public.segment_leads(uuid) to authenticated;
