-- Back to the marker: claim_social_posts returns each target's marker again, and
-- first_attempt_at goes. Existing targets get new markers (the column's default).
alter table public.social_posts
  add column marker text not null default left(replace(gen_random_uuid()::text, '-', ''), 16),
  add constraint social_posts_marker_check check (marker ~ '^[0-9a-f]{16}$');
comment on column public.social_posts.marker is
  'A token fixed at creation that the dispatcher uses to find this post among the account''s recent ones after a timeout.';

drop function private.claim_social_posts(integer);
create function private.claim_social_posts(p_limit integer)
returns table (
  job_id bigint,
  social_post_id uuid,
  content_id uuid,
  user_id uuid,
  platform text,
  social_connection_id uuid,
  account_id text,
  text text,
  media_urls text[],
  marker text,
  attempts integer
)
language plpgsql
set search_path = ''
as $$
declare
  claimed jsonb;
  stale jsonb;
begin
  select coalesce(jsonb_agg(jsonb_build_object('id', j.id, 'subject_id', j.subject_id, 'attempts', j.attempts)), '[]')
  into claimed
  from private.claim_jobs('social_publish', p_limit) as j;

  -- A job whose target is gone (its content or connection deleted) or whose content was
  -- archived meanwhile publishes nothing: done, and the target cancelled.
  with jobs as (
    select * from jsonb_to_recordset(claimed) as j (id bigint, subject_id uuid, attempts integer)
  ),
  dropped as (
    select j.id, t.id as target
    from jobs as j
    left join public.social_posts as t on t.id = j.subject_id and t.status = 'publishing'
    left join public.content as c on c.id = t.content_id and c.status = 'publishing'
    where c.id is null
  ),
  cancelled as (
    update public.social_posts as t
    set status = 'cancelled'
    from dropped as d
    where t.id = d.target
    returning t.id
  )
  select coalesce(jsonb_agg(jsonb_build_object('id', d.id, 'outcome', 'done',
           'result', jsonb_build_object('skipped', 'the target or its content is gone or archived'))), '[]')
  into stale
  from dropped as d;
  if jsonb_array_length(stale) > 0 then
    perform private.complete_jobs('social_publish', stale);
  end if;

  return query
  with jobs as (
    select * from jsonb_to_recordset(claimed) as j (id bigint, subject_id uuid, attempts integer)
    where not exists (select from jsonb_array_elements(stale) as s where (s ->> 'id')::bigint = j.id)
  ),
  counted as (
    update public.social_posts as t
    set attempts = j.attempts
    from jobs as j
    where t.id = j.subject_id
    returning t.id, t.content_id, t.user_id, t.social_connection_id, t.account_id, t.text, t.media_urls,
              t.marker, j.id as job_id, j.attempts
  )
  select t.job_id, t.id, t.content_id, t.user_id, sc.platform, t.social_connection_id, t.account_id,
         coalesce(t.text, c.content), t.media_urls, t.marker, t.attempts
  from counted as t
  join public.social_connections as sc on sc.id = t.social_connection_id
  join public.content as c on c.id = t.content_id
  order by t.job_id;
end;
$$;
comment on function private.claim_social_posts(integer) is
  'dispatch: leases up to p_limit social_publish jobs (fair across owners) and returns per target what its adapter needs.';
revoke all on function private.claim_social_posts(integer) from public, anon, authenticated, service_role;

alter table public.social_posts drop column first_attempt_at;
