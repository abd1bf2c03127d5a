-- Reconciliation bound to time. After a lost answer (a timeout, a 5xx) the dispatcher looks the
-- post up among the account's recent posts before posting again. A recent post with the target's
-- text was taken as ours whatever its age, so an older identical post (last week's "Happy
-- Friday!") made the target published without posting. Now it counts only if the platform
-- created it at or after the target's first attempt, less a clock-skew allowance.
--
--   social_posts.first_attempt_at: when the publishing round's first attempt was claimed, which
--     is before anything was sent; kept while the round retries, set again by a round's first
--     claim (a rate-limited first attempt gives its attempt back and posted nothing).
--   social_posts.marker goes: it was handed to the adapters but never posted (a marker must not
--     be put into the user's text), so it could match nothing.

alter table public.social_posts add column first_attempt_at timestamptz;
comment on column public.social_posts.first_attempt_at is
  'When this publishing round''s first attempt was claimed (before anything was sent); a post found among the account''s recent ones after a lost answer is this target''s only if the platform created it since (less 2 minutes of clock skew). Set by Beacon.';

alter table public.social_posts drop column marker;

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
  first_attempt_at timestamptz,
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

  -- attempts = 1: nothing of this round can have reached the platform yet (a counted attempt
  -- or a lost lease makes it 2 or more), so the round's first send starts now.
  return query
  with jobs as (
    select * from jsonb_to_recordset(claimed) as j (id bigint, subject_id uuid, attempts integer)
    where not exists (select from jsonb_array_elements(stale) as s where (s ->> 'id')::bigint = j.id)
  ),
  counted as (
    update public.social_posts as t
    set attempts = j.attempts,
        first_attempt_at = case when j.attempts <= 1 or t.first_attempt_at is null then now()
                                else t.first_attempt_at end
    from jobs as j
    where t.id = j.subject_id
    returning t.id, t.content_id, t.user_id, t.social_connection_id, t.account_id, t.text, t.media_urls,
              t.first_attempt_at, j.id as job_id, j.attempts
  )
  select t.job_id, t.id, t.content_id, t.user_id, sc.platform, t.social_connection_id, t.account_id,
         coalesce(t.text, c.content), t.media_urls, t.first_attempt_at, t.attempts
  from counted as t
  join public.social_connections as sc on sc.id = t.social_connection_id
  join public.content as c on c.id = t.content_id
  order by t.job_id;
end;
$$;
comment on function private.claim_social_posts(integer) is
  'dispatch: leases up to p_limit social_publish jobs (fair across owners) and returns per target what its adapter needs, with when its round''s first attempt was claimed.';
revoke all on function private.claim_social_posts(integer) from public, anon, authenticated, service_role;
