-- Saved segments (issue 12): an owner names a lead predicate, in the one lead grammar of
-- workflow conditions (private.lead_conditions_problem validates it, naming the path as
-- "predicate.events[0].within_days: ..."), and counts or previews it while editing.
--
--   public.segments                              owner-managed (RLS), name + predicate
--   public.segment_count(segment_id) → bigint    how many of the owner's leads are in it now
--   public.preview_segment(predicate, max_rows)  the first leads an unsaved predicate selects
--
-- The RPCs are security invoker: they read leads, events and deliveries through RLS. The
-- predicate reaches them compiled (private.lead_conditions_sql) by segmenting.predicate_sql,
-- a security-definer function in its own schema (like reporting: not exposed by PostgREST,
-- usage granted to authenticated) so that no private function becomes callable by apps. It
-- reads no table: it only validates and compiles, with the caller's id as the owner literal.

create schema segmenting;
comment on schema segmenting is
  'The lead grammar''s compiler for the segment RPCs (validates, compiles; reads no table). Not exposed by PostgREST.';
revoke all on schema segmenting from public;
grant usage on schema segmenting to authenticated;

create function segmenting.predicate_sql(caller text, predicate jsonb)
returns text
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  owner constant uuid := (select auth.uid());
  problem constant text := private.lead_conditions_problem('predicate', predicate);
begin
  if owner is null then
    raise exception using errcode = 'insufficient_privilege',
      message = format('%s: sign in first; segments are counted over the caller''s own leads', caller);
  end if;
  if problem is not null then
    raise exception using errcode = 'invalid_parameter_value', message = format('%s: %s', caller, problem),
      hint = 'A predicate takes statuses, min_score, max_score, tags, custom_fields, events and emails (docs/segments.md).';
  end if;
  return private.lead_conditions_sql(predicate, 'l', format('%L::uuid', owner));
end;
$$;
comment on function segmenting.predicate_sql(text, jsonb) is
  'The SQL condition of a valid predicate over lead alias l, owned by the caller; an invalid one raises 22023 naming the path, prefixed by the calling RPC.';
revoke all on function segmenting.predicate_sql(text, jsonb) from public, anon, authenticated, service_role;
grant execute on function segmenting.predicate_sql(text, jsonb) to authenticated;

create table public.segments (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  name text not null,
  predicate jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint segments_name_check check (name ~ '\S' and length(name) <= 200),
  constraint segments_user_id_name_key unique (user_id, name)
);
comment on table public.segments is
  'Saved lead segments per owner: a name and a predicate in the lead grammar of workflow conditions (docs/segments.md).';
comment on column public.segments.predicate is
  'Which leads: {"statuses", "min_score", "max_score", "tags", "custom_fields", "events", "emails"}, all given must hold; {} is every lead.';

select private.secure_tenant_table('public.segments');
grant select, delete on table public.segments to authenticated;
grant insert (name, predicate), update (name, predicate) on table public.segments to authenticated;

create trigger set_updated_at
before update on public.segments
for each row execute function private.set_updated_at();

create function private.check_segment()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  problem constant text := private.lead_conditions_problem('predicate', new.predicate);
begin
  if problem is not null then
    raise exception using errcode = 'check_violation', message = problem,
      hint = 'A predicate takes statuses, min_score, max_score, tags, custom_fields, events and emails (docs/segments.md).';
  end if;
  return new;
end;
$$;
comment on function private.check_segment() is
  'Trigger: refuses a segment whose predicate the lead grammar rejects, naming the path (predicate.tags.any[0]: ...).';
revoke all on function private.check_segment() from public, anon, authenticated;

create trigger check_segment
before insert or update of predicate on public.segments
for each row execute function private.check_segment();

create function public.segment_count(segment_id uuid)
returns bigint
language plpgsql
stable
set search_path = ''
as $$
declare
  found_predicate jsonb;
  total bigint;
begin
  select s.predicate into found_predicate from public.segments as s where s.id = segment_count.segment_id;
  if not found then
    raise exception using errcode = 'no_data_found',
      message = format('segment_count: no segment %s among yours', coalesce(segment_count.segment_id::text, 'null'));
  end if;
  execute format('select count(*) from public.leads as l where l.user_id = (select auth.uid()) and %s',
    segmenting.predicate_sql('segment_count', found_predicate))
  into total;
  return total;
end;
$$;
comment on function public.segment_count(uuid) is
  'How many of the caller''s leads are in one of their segments now (one set-based query over RLS).';
revoke all on function public.segment_count(uuid) from public, anon, authenticated, service_role;
grant execute on function public.segment_count(uuid) to authenticated;

create function public.preview_segment(predicate jsonb, max_rows integer default 20)
returns table (id uuid, email text, first_name text, last_name text, company text, status text, score integer,
  tags text[], created_at timestamptz)
language plpgsql
stable
set search_path = ''
as $$
declare
  condition constant text := segmenting.predicate_sql('preview_segment', preview_segment.predicate);
  ids uuid[];
begin
  perform reporting.check_limit('preview_segment', preview_segment.max_rows);
  -- The dynamic part finds the ids; the rows are read by a static query (checked by plpgsql_check).
  execute format(
    'select array(select l.id from public.leads as l where l.user_id = (select auth.uid()) and %s
     order by l.created_at desc, l.id limit %s)', condition, preview_segment.max_rows)
  into ids;
  return query
  select l.id, l.email, l.first_name, l.last_name, l.company, l.status, l.score, l.tags, l.created_at
  from public.leads as l
  where l.id = any (ids)
  order by l.created_at desc, l.id;
end;
$$;
comment on function public.preview_segment(jsonb, integer) is
  'The newest leads (1 to 1000) of the caller''s that an unsaved predicate selects, to preview a segment while editing it.';
revoke all on function public.preview_segment(jsonb, integer) from public, anon, authenticated, service_role;
grant execute on function public.preview_segment(jsonb, integer) to authenticated;
