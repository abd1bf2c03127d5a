#!/usr/bin/env bash
# The rollback round trip, run by scripts/test right after `scripts/db reset` (every
# migration applied, seed loaded):
#   - every migration in supabase/migrations has a rollback of the same file name;
#   - with rows in every table of ours, rolling back the newest migration keeps the rows of
#     the other tables, and re-applying it restores the same schema and takes rows again;
#   - rolling back every migration leaves nothing of ours behind: the schema dump, the roles
#     and cron.job equal those of a freshly bootstrapped cluster (a throwaway one on a spare
#     port, made by the same `scripts/db start`);
#   - on the way down, each migration that moves or rewrites rows (marked, see below) is
#     rolled back with the rows of every table in place, re-applied and rolled back again:
#     the rows must survive both directions;
#   - every migration re-applies and supabase/seed.sql loads, for the stages that follow.
# Markers, lines of a migration (its rollback needs none):
#   -- rollback_check: rows move between <table> <table> ...
#        its rows move from one of these tables to another (and back on rollback): they are
#        counted together, so they must all arrive, in one table or the other;
#   -- rollback_check: rows through <table> ...
#        it rewrites these tables (or re-creates them and copies their rows): after its
#        rollback every row is still there, equal in the columns both versions have, and
#        after re-applying it every row is back whole, in the same partition of a partitioned
#        table as before.
# A marked migration also has the row counts of every other table compared across its
# rollback and re-application, as the newest migration has.
# Prints one line per assertion, "ok - ..." or "not ok - ..." followed by "#" details, and
# exits non-zero when one failed. "Bail out!" means a step the rest depends on failed.
# On its own: scripts/db reset && bash scripts/local/rollback_check.sh
set -uo pipefail
source "$(dirname "$0")/common.sh"
cd "$BEACON_ROOT" || exit 1

DB="$BEACON_ROOT/scripts/db"
WORK=$(mktemp -d)
PRISTINE_DIR=""
PRISTINE_PORT=""
# The auth user that owns the rows this check inserts.
OWNER=00000000-0000-4000-8000-00000000b0b0

failures=0
pass() { echo "ok - $1"; }
fail() {
  echo "not ok - $1"
  shift
  [ $# -gt 0 ] && printf '%s\n' "$@" | head -60 | sed 's/^/#   /'
  failures=$((failures + 1))
}
bail() { echo "Bail out! $*"; exit 1; }
# Lines to one line of words.
words() { paste -sd' ' - <<<"$1"; }

cleanup() {
  if [ -n "$PRISTINE_DIR" ]; then
    BEACON_LOCAL_DIR="$PRISTINE_DIR" BEACON_DB_PORT="$PRISTINE_PORT" "$DB" stop >/dev/null 2>&1
    rm -rf "$PRISTINE_DIR"
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# Dumps of the cluster that common.sh points at (DB_PORT, LOCAL_DIR), as its superuser.
# Lines that differ between any two dumps (pg_dump's random \restrict key, versions) go.
normalize() { grep -v -E '^(\\restrict|\\unrestrict|-- Dumped (from|by) )'; }
dump_schema() {
  "$(pg_bindir)/pg_dump" -h "$(socket_dir)" -p "$DB_PORT" -U supabase_admin -d postgres \
    --schema-only --create --exclude-schema=supabase_migrations | normalize
}
dump_roles() {
  "$(pg_bindir)/pg_dumpall" -h "$(socket_dir)" -p "$DB_PORT" -U supabase_admin \
    --roles-only --no-role-passwords | normalize
}
all_tables() {
  admin_psql -d postgres -At -c "
    select format('%I.%I', n.nspname, c.relname)
    from pg_class as c
    join pg_namespace as n on n.oid = c.relnamespace
    where c.relkind in ('r', 'p')
      and not c.relispartition
      and n.nspname not in ('pg_catalog', 'information_schema', 'supabase_migrations')
      and n.nspname not like 'pg\_%'" | LC_ALL=C sort
}

# Tables of ours: those a freshly bootstrapped cluster does not have.
our_tables() { all_tables | LC_ALL=C comm -23 - "$WORK/pristine.tables"; }

# "<table> <row count>" for each table named on stdin.
row_counts() {
  local table sql=""
  while read -r table; do
    [ -n "$table" ] && sql+="${sql:+ union all }select '$table', count(*) from $table"
  done
  [ -n "$sql" ] || return 0
  admin_psql -d postgres -At -F ' ' -c "$sql order by 1"
}

# The row counts of the tables that survived rolling back the newest migration must not
# change (counts.kept: their counts before it).
# A migration that moves rows from one table to another (and its rollback, back) says so in a
# line "-- rollback_check: rows move between <table> <table> ...": those tables are compared by
# their total, so the rows must all arrive, in one table or the other.
moved_tables() { sed -n 's/^-- rollback_check: rows move between //p' "supabase/migrations/$1"; }
# Counts ("<table> <rows>" lines) with the tables named in $MOVED summed into one line.
merge_moved() {
  awk -v moved="$MOVED" 'BEGIN { n = split(moved, t, " "); for (i = 1; i <= n; i++) m[t[i]] = 1 }
    ($1 in m) { sum += $2; seen = 1; next } { print }
    END { if (seen) print "moved(" moved ") " sum }'
}
# Passes "$1" when the tables listed in file $3 have now the counts that file $2 gave them.
check_counts() {
  local what=$1 expected now
  expected=$(awk 'FILENAME == ARGV[1] { t[$1] = 1; next } ($1 in t)' "$3" "$2" | merge_moved)
  now=$(row_counts <"$3" 2>&1 | merge_moved)
  if [ "$now" = "$expected" ]; then
    pass "$what ($(grep -c . "$3") tables)"
  else
    fail "$what" "$(diff --label before --label now -u <(printf '%s\n' "$expected") <(printf '%s\n' "$now"))"
  fi
}
check_rows_kept() {
  # Only what is a table now: one the newest migration turns into a view is counted in the
  # table its rows moved to.
  LC_ALL=C comm -12 "$WORK/tables.down" <(our_tables) >"$WORK/tables.kept"
  check_counts "the other tables keep their rows $1" "$WORK/counts.kept" "$WORK/tables.kept"
}

# --- rows through a migration that moves or rewrites them --------------------------------

through_tables() { sed -n 's/^-- rollback_check: rows through //p' "supabase/migrations/$1"; }
# The migrations with either marker, newest first.
marked_migrations() {
  (cd supabase/migrations && grep -l -E '^-- rollback_check: rows (move between|through) ' -- *.sql) |
    LC_ALL=C sort -r
}
# Writes table $1's rows to file $2 as "<the table or partition holding it> <row as JSON>"
# (COPY's text format, read back exactly by same_rows).
save_rows() {
  admin_psql -d postgres -c "\\copy (select t.tableoid::regclass::text, to_jsonb(t) from $1 as t) to '$2'"
}
# Nothing when table $1 holds now the rows that save_rows wrote to file $2, compared in the
# columns both have, and in the partition holding each when the table is partitioned now (a
# rollback may undo the partitioning); else the differences, a line each.
same_rows() {
  admin_psql -d postgres -At <<SQL
create temporary table saved (place text, row jsonb);
\\copy saved from '$2'
create temporary table present as select t.tableoid::regclass::text as place, to_jsonb(t) as row from $1 as t;
create temporary table odd as
select array(
  (select jsonb_object_keys(s.row) from saved as s union select jsonb_object_keys(p.row) from present as p)
  except
  (select jsonb_object_keys(s.row) from saved as s intersect select jsonb_object_keys(p.row) from present as p)
) as keys,
(select relkind = 'p' from pg_catalog.pg_class where oid = '$1'::regclass) as partitioned;
with was as (
  select case when o.partitioned then s.place end as place, s.row - o.keys as row from saved as s, odd as o
), is_now as (
  select case when o.partitioned then p.place end as place, p.row - o.keys as row from present as p, odd as o
), gone as (
  select * from was except all select * from is_now
), came as (
  select * from is_now except all select * from was
)
select 'missing: ' || coalesce(place || ' ', '') || row::text from gone
union all
select 'unexpected: ' || coalesce(place || ' ', '') || row::text from came
order by 1
limit 40;
SQL
}
# Passes "$2" when table $1 holds the rows check_rows_through saved of it (same_rows).
check_saved_rows() {
  local differ
  if differ=$(same_rows "$1" "$WORK/through.$1" 2>&1) && [ -z "$differ" ]; then
    pass "$2"
  else
    fail "$2" "$differ"
  fi
}
# The marked migration $1, the newest applied one now: rolled back and re-applied with rows in
# every table. Ends rolled back, as the walk down expects.
check_rows_through() {
  local migration=$1 table out
  local -a through
  read -r -a through <<<"$(through_tables "$migration")"
  MOVED=$(moved_tables "$migration")
  our_tables >"$WORK/through.tables"
  row_counts <"$WORK/through.tables" >"$WORK/through.counts"
  for table in "${through[@]}"; do
    save_rows "$table" "$WORK/through.$table" >/dev/null || bail "could not save the rows of $table"
  done

  out=$("$DB" down 1 2>&1) || { fail "scripts/db down 1 rolls back $migration" "$out"; bail "$migration did not roll back"; }
  # The tables there before, and one of moved tables that the rollback makes a table again.
  LC_ALL=C comm -12 <(printf '%s\n' $MOVED | cat - "$WORK/through.tables" | LC_ALL=C sort -u) \
    <(our_tables) >"$WORK/through.kept"
  check_counts "the tables keep their rows after rolling back $migration" "$WORK/through.counts" \
    "$WORK/through.kept"
  for table in "${through[@]}"; do
    grep -qxF "$table" "$WORK/through.kept" || continue # dropped by the rollback, back below
    check_saved_rows "$table" "every row of $table is kept by the rollback of $migration"
  done

  # As the CLI applies it: one transaction, then recorded in its history table.
  out=$(db_psql -1 -f "supabase/migrations/$migration" -c "insert into supabase_migrations.schema_migrations
    (version, name) values ('${migration%%_*}', '$(sed 's/^[0-9]*_//; s/\.sql$//' <<<"$migration")')" 2>&1) ||
    { fail "$migration re-applies after its rollback" "$out"; bail "$migration did not re-apply"; }
  admin_psql -d postgres -c 'select cron.alter_job(jobid, active := false) from cron.job' >/dev/null
  check_counts "the tables have their rows again after re-applying $migration" "$WORK/through.counts" \
    "$WORK/through.tables"
  for table in "${through[@]}"; do
    check_saved_rows "$table" "every row of $table is back, where it was, after re-applying $migration"
  done

  out=$("$DB" down 1 2>&1) || { fail "scripts/db down 1 rolls back $migration again" "$out"; bail "$migration did not roll back again"; }
}

# A port nobody listens on, for the throwaway cluster.
spare_port() {
  local port
  for port in $(seq $((DB_PORT + 100)) $((DB_PORT + 199))); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return 0; }
  done
  return 1
}

# Representative rows for each table, in migration order. A table that a future migration
# adds needs its rows here: the check fails while a table of ours stays empty.
ROW_TABLES=(
  public.campaigns public.leads public.content public.social_connections
  public.email_campaigns public.analytics_events public.user_secrets public.workflows
  public.workflow_executions private.oauth_states public.email_suppressions public.email_deliveries
  private.email_queue private.email_metrics_stale private.processed_webhooks
  public.scoring_settings public.scoring_rules public.lead_status_history public.workflow_run_requests
  private.rate_limit_counters
  private.email_event_windows private.email_unsubscribe_keys private.email_unsubscribe_effects
  private.workflow_quotas
  public.write_keys public.collect_settings private.visitor_identities
  private.analytics_event_messages private.analytics_retention_failures
  private.analytics_retention_global_failure
  private.event_rollups_daily private.event_rollup_dirty
  private.job_kinds private.jobs public.social_posts
  public.lists public.list_memberships public.forms public.consents
  private.unconfirmed_expiry_failures private.erased_addresses
  public.segments
  private.lead_changes
  private.segment_evaluations private.segment_members
  public.scoring_rule_changes
)
rows_for() {
  case "$1" in
    public.campaigns) cat <<SQL ;;
insert into public.campaigns (user_id, name, type, status, description, config)
values ('$OWNER', 'Rollback check: spring launch', 'email', 'active', 'Survives rollbacks.',
        '{"channel": "email"}'),
       ('$OWNER', 'Rollback check: autumn', 'mixed', 'draft', null, '{}');
SQL
    public.leads) cat <<SQL ;;
insert into public.leads (user_id, email, first_name, last_name, company, phone, status, source,
                          tags, custom_fields)
values ('$OWNER', 'ada@rollback.example', 'Ada', 'Lovelace', 'Analytical Engines', '+44 20 7946 0000',
        'qualified', 'webinar', '{vip,engineering}', '{"plan": "pro"}'),
       ('$OWNER', 'grace@rollback.example', 'Grace', null, null, null, 'new', null, '{}', '{}');
SQL
    public.content) cat <<SQL ;;
insert into public.content (user_id, title, content_type, content, metadata, status, scheduled_at)
values ('$OWNER', 'Rollback check: launch post', 'blog_post', 'Hello.', '{"words": 1}', 'draft', null),
       ('$OWNER', 'Rollback check: teaser', 'social_post', 'Soon.', '{}', 'draft',
        now() + interval '1 day');
SQL
    public.social_connections) cat <<SQL ;;
insert into public.social_connections (user_id, platform, platform_user_id, username, access_token,
                                       refresh_token, expires_at)
values ('$OWNER', 'linkedin', 'li-rollback', 'rollback-check', 'v1:ciphertext', 'v1:refresh',
        now() + interval '1 hour');
SQL
    public.email_campaigns) cat <<SQL ;;
insert into public.email_campaigns (user_id, campaign_id, subject, content, template_id,
                                    recipient_list, send_at, status)
values ('$OWNER',
        (select id from public.campaigns where user_id = '$OWNER' order by name limit 1),
        'Rollback check: newsletter', '<p>Hello</p>',
        (select id from public.content where user_id = '$OWNER' order by title limit 1),
        '["ada@rollback.example"]', now() + interval '1 day', 'scheduled');
SQL
    public.analytics_events) cat <<SQL ;;
insert into public.analytics_events (user_id, event_type, event_name, properties, session_id,
                                     user_agent, ip_address)
values ('$OWNER', 'email', 'open', '{"campaign": "newsletter"}', 's-1', 'RollbackCheck/1.0',
        '192.0.2.1'),
       ('$OWNER', 'page', 'view', '{}', null, null, null);
SQL
    public.user_secrets) cat <<SQL ;;
insert into public.user_secrets (user_id, secret_name, encrypted_value)
values ('$OWNER', 'RESEND_API_KEY', 'v1:ciphertext');
SQL
    public.workflows) cat <<SQL ;;
insert into public.workflows (user_id, name, description, trigger_config, action_config, is_active)
values ('$OWNER', 'Rollback check: welcome', 'Greets new leads.', '{"type": "lead_created"}',
        '{"steps": [{"type": "send_email", "subject": "Welcome", "body": "Hello {{first_name|there}}"}]}', true);
SQL
    public.workflow_executions) cat <<SQL ;;
insert into public.workflow_executions (workflow_id, trigger_data, status, completed_at)
values ((select id from public.workflows where user_id = '$OWNER' order by name limit 1),
        '{"lead": "ada@rollback.example"}', 'completed', now() + interval '1 second');
SQL
    private.oauth_states) cat <<SQL ;;
insert into private.oauth_states (state_hash, user_id, platform, code_verifier, redirect_to)
values (sha256('rollback-check-state'), '$OWNER', 'linkedin',
        'rollback-check-code-verifier-0123456789abcdefghijklmnop',
        'https://app.example/connected');
SQL
    public.email_suppressions) cat <<SQL ;;
insert into public.email_suppressions (user_id, email, reason, email_campaign_id)
values ('$OWNER', 'bounced@rollback.example', 'hard_bounce',
        (select id from public.email_campaigns where user_id = '$OWNER' order by subject limit 1)),
       ('$OWNER', 'manual@rollback.example', 'manual', null);
SQL
    public.email_deliveries) cat <<SQL ;;
insert into public.email_deliveries (id, user_id, email_campaign_id, lead_id, email, first_name,
                                     merge_data, status, attempts, idempotency_key, sent_at,
                                     provider_message_id)
select d.id, '$OWNER', c.id, d.lead_id, d.email, d.first_name, d.merge_data, d.status, d.attempts,
       d.id::text, d.sent_at, d.provider_message_id
from (select id from public.email_campaigns where user_id = '$OWNER' order by subject limit 1) as c
cross join (
  values ('00000000-0000-4000-8000-0000000de001'::uuid,
          (select id from public.leads where user_id = '$OWNER' and email = 'ada@rollback.example'),
          'ada@rollback.example', 'Ada', '{"plan": "pro"}'::jsonb, 'delivered', 1, now(), 're_rollback_1'),
         ('00000000-0000-4000-8000-0000000de002'::uuid, null, 'queued@rollback.example', null, '{}', 'queued', 0,
          null, null)
) as d (id, lead_id, email, first_name, merge_data, status, attempts, sent_at, provider_message_id);
SQL
    private.email_queue) cat <<SQL ;;
insert into private.email_queue (delivery_id, email_campaign_id, user_id, chunk, run_after)
select d.id, d.email_campaign_id, d.user_id, 0, now() + interval '1 day'
from public.email_deliveries as d
where d.user_id = '$OWNER' and d.status = 'queued';
SQL
    private.email_metrics_stale) cat <<SQL ;;
insert into private.email_metrics_stale (email_campaign_id)
select id from public.email_campaigns where user_id = '$OWNER' order by subject limit 1;
SQL
    private.processed_webhooks) cat <<SQL ;;
insert into private.processed_webhooks (id) values ('msg_rollback_check');
SQL
    public.scoring_settings) cat <<SQL ;;
insert into public.scoring_settings (user_id, qualification_threshold, engagement_half_life_days)
values ('$OWNER', 40, 14);
SQL
    # Also fills the applied rules, the engagement points and a pending rescore request.
    public.scoring_rules) cat <<SQL ;;
insert into public.scoring_rules (user_id, name, condition, points)
values ('$OWNER', 'Rollback check: business email', '{"type": "email_domain", "free_mail": false}', 10),
       ('$OWNER', 'Rollback check: pricing', '{"type": "event", "event_type": "page", "properties": {"path": "/pricing"}}', 5);
select private.rescore_leads('$OWNER');
insert into public.analytics_events (user_id, event_type, event_name, properties)
select '$OWNER', 'page', 'view', jsonb_build_object('path', '/pricing', 'lead_id', id)
from public.leads where user_id = '$OWNER' and email = 'ada@rollback.example';
update public.scoring_rules set points = 12 where user_id = '$OWNER' and name = 'Rollback check: business email';
SQL
    public.lead_status_history) cat <<SQL ;;
update public.leads set status = 'contacted' where user_id = '$OWNER' and email = 'grace@rollback.example';
SQL
    # Also fills the workflow's run and a queued webhook of its execution.
    public.workflow_run_requests) cat <<SQL ;;
insert into public.workflow_run_requests (user_id, workflow_id, lead_id)
select '$OWNER', w.id, l.id
from public.workflows as w, public.leads as l
where w.user_id = '$OWNER' and l.user_id = '$OWNER' and l.email = 'ada@rollback.example'
order by w.name
limit 1;
insert into private.webhook_queue (user_id, execution_id, step, url, secret_name, body)
select '$OWNER', r.execution_id, 0, 'https://hooks.rollback.example/in', 'WEBHOOK_SIGNING_SECRET',
       '{"type": "workflow.webhook"}'
from public.workflow_run_requests as r
where r.user_id = '$OWNER';
SQL
    private.rate_limit_counters) cat <<SQL ;;
select private.rate_limit_hit('rollback:ip', '198.51.100.1', 10, 3600);
SQL
    # An open of the delivered message: its analytics row and its hour's window.
    private.email_event_windows) cat <<SQL ;;
select private.record_email_event('opened', '00000000-0000-4000-8000-0000000de001', now());
SQL
    private.email_unsubscribe_keys) cat <<SQL ;;
insert into private.email_unsubscribe_keys (delivery_id, user_id, email, sender, kept_until)
values ('00000000-0000-4000-8000-0000000de0ff', '$OWNER', 'gone@rollback.example', 'Rollback check',
        now() + interval '60 days');
SQL
    private.email_unsubscribe_effects) cat <<SQL ;;
insert into private.email_unsubscribe_effects (delivery_id, user_id, occurred_at, workflows_pending,
                                               analytics_pending, last_error, run_after)
values ('00000000-0000-4000-8000-0000000de001', '$OWNER', now(), true, false, 'Rollback check',
        now() + interval '1 day');
SQL
    private.workflow_quotas) cat <<SQL ;;
insert into private.workflow_quotas (user_id, executions_per_minute, minute, executions)
values ('$OWNER', 5000, date_trunc('minute', now()), 1);
SQL
    public.write_keys) cat <<SQL ;;
insert into public.write_keys (user_id, name) values ('$OWNER', 'Rollback check: site');
SQL
    public.collect_settings) cat <<SQL ;;
insert into public.collect_settings (user_id, create_leads, truncate_ip, honor_privacy_signals)
values ('$OWNER', true, true, false);
SQL
    private.visitor_identities) cat <<SQL ;;
insert into private.visitor_identities (user_id, anonymous_id, lead_id)
select '$OWNER', 'rollback-visitor', l.id
from public.leads as l
where l.user_id = '$OWNER' and l.email = 'ada@rollback.example';
SQL
    # An event with a message id (partitions count in analytics_events, not as tables).
    # Also events of earlier months, in the month partitions a live database has for them
    # (beacon-analytics-partitions made each in its time); one older than two years stays in
    # the default partition, as the partitioning migration leaves such rows.
    private.analytics_event_messages) cat <<SQL ;;
insert into public.analytics_events (user_id, event_type, event_name, "timestamp", message_id)
values ('$OWNER', 'track', 'rollback_check', now(), 'rollback-check-message'),
       ('$OWNER', 'page', 'view', now() - interval '45 days', 'rollback-check-45-days'),
       ('$OWNER', 'page', 'view', now() - interval '13 months', 'rollback-check-13-months'),
       ('$OWNER', 'page', 'view', now() - interval '3 years', 'rollback-check-3-years');
select private.create_analytics_event_partition(m.month)
from (
  select distinct date_trunc('month', d."timestamp" at time zone 'UTC')::date as month
  from private.analytics_events_default as d
  where d."timestamp" >= now() - interval '2 years' and d."timestamp" < now() + interval '4 months'
) as m;
SQL
    private.analytics_retention_failures) cat <<SQL ;;
insert into private.analytics_retention_failures (user_id, error) values ('$OWNER', 'Rollback check');
SQL
    private.analytics_retention_global_failure) cat <<SQL ;;
insert into private.analytics_retention_global_failure (error) values ('Rollback check');
SQL
    private.event_rollups_daily) cat <<SQL ;;
insert into private.event_rollups_daily (user_id, day, event_type, event_name, events, anonymous_ids, leads)
values ('$OWNER', current_date - 1, 'page', 'view', 3, 2, 1);
SQL
    private.event_rollup_dirty) cat <<SQL ;;
insert into private.event_rollup_dirty (user_id, day) values ('$OWNER', current_date - 2)
on conflict do nothing;
SQL
    private.job_kinds) cat <<SQL ;;
select private.register_job_kind('rollback_check', 3, 60);
SQL
    private.jobs) cat <<SQL ;;
insert into private.jobs (kind, key, user_id, payload, run_after)
values ('rollback_check', 'rollback-check-1', '$OWNER', '{"n": 1}', now() + interval '1 day');
SQL
    public.social_posts) cat <<SQL ;;
insert into public.social_posts (user_id, content_id, social_connection_id, text)
select c.user_id, c.id, sc.id, 'Soon, on LinkedIn.'
from public.content as c
join public.social_connections as sc on sc.user_id = c.user_id and sc.platform = 'linkedin'
where c.user_id = '$OWNER' and c.content_type = 'social_post';
SQL
    public.lists) cat <<SQL ;;
insert into public.lists (user_id, name, description)
values ('$OWNER', 'Rollback check: newsletter', 'Monthly news.');
SQL
    public.list_memberships) cat <<SQL ;;
insert into public.list_memberships (user_id, list_id, lead_id)
select '$OWNER', l.id, d.id
from public.lists as l, public.leads as d
where l.user_id = '$OWNER' and d.user_id = '$OWNER';
SQL
    public.forms) cat <<SQL ;;
insert into public.forms (user_id, name, fields, tags, list_ids, double_opt_in, consent_text,
                          consent_version, success_url, confirm_url)
select '$OWNER', 'Rollback check: signup', '{first_name}', '{signup}', array_agg(l.id), true,
       'Email me the newsletter.', 'v1', 'https://rollback.example/thanks',
       'https://rollback.example/confirmed'
from public.lists as l
where l.user_id = '$OWNER';
SQL
    public.consents) cat <<SQL ;;
insert into public.consents (user_id, lead_id, form_id, purpose, consent_text, consent_version,
                             ip_address, user_agent)
select '$OWNER', d.id, f.id, 'email_marketing', f.consent_text, f.consent_version, '192.0.2.1',
       'RollbackCheck/1.0'
from public.leads as d, public.forms as f
where d.user_id = '$OWNER' and f.user_id = '$OWNER';
SQL
    private.unconfirmed_expiry_failures) cat <<SQL ;;
insert into private.unconfirmed_expiry_failures (user_id, error)
values ('$OWNER', 'Rollback check: a trigger refused');
SQL
    private.erased_addresses) cat <<SQL ;;
insert into private.erased_addresses (user_id, address_hash)
values ('$OWNER', sha256(convert_to('$OWNER:erased@rollback.example', 'UTF8')));
SQL
    public.segments) cat <<SQL ;;
insert into public.segments (user_id, name, predicate)
values ('$OWNER', 'Rollback check: engaged', '{"emails": [{"action": "opened", "within_days": 30}]}');
SQL
    # A failed row: beacon-lead-changes never claims it, so its count holds while jobs run.
    private.lead_changes) cat <<SQL ;;
insert into private.lead_changes (user_id, leads, error, failed_at)
values ('$OWNER', '[]', 'Rollback check', now());
SQL
    # Paused jobs: the evaluation row stands although no workflow watches the segment yet.
    private.segment_evaluations) cat <<SQL ;;
insert into private.segment_evaluations (segment_id, user_id, predicate, leads_seen_at, evaluated_whole_at)
select id, user_id, predicate, now(), now() from public.segments where user_id = '$OWNER';
SQL
    private.segment_members) cat <<SQL ;;
insert into private.segment_members (segment_id, lead_id)
select e.segment_id, l.id
from private.segment_evaluations as e
join public.leads as l on l.user_id = e.user_id
where e.user_id = '$OWNER';
SQL
    # A rule change rescored (its row of the rule change ledger), then one pending again.
    public.scoring_rule_changes) cat <<SQL ;;
select private.rescore_leads('$OWNER');
update public.scoring_rules set points = 14 where user_id = '$OWNER' and name = 'Rollback check: business email';
SQL
    *) return 1 ;;
  esac
}

# Inserts the representative rows of each listed table that exists; prints errors.
insert_rows() {
  local table wanted sql=""
  for table in "${ROW_TABLES[@]}"; do
    for wanted in "$@"; do
      [ "$table" = "$wanted" ] && sql+=$(rows_for "$table")$'\n'
    done
  done
  [ -n "$sql" ] || return 0
  db_psql -1 <<<"$sql" 2>&1 >/dev/null
}

# --- every migration has a rollback -------------------------------------------------------

migrations=$(cd supabase/migrations 2>/dev/null && ls -1 -- *.sql 2>/dev/null | LC_ALL=C sort)
rollbacks=$(cd supabase/rollbacks 2>/dev/null && ls -1 -- *.sql 2>/dev/null | LC_ALL=C sort)
missing=$(LC_ALL=C comm -23 <(printf '%s\n' "$migrations") <(printf '%s\n' "$rollbacks") | grep . )
orphans=$(LC_ALL=C comm -13 <(printf '%s\n' "$migrations") <(printf '%s\n' "$rollbacks") | grep . )
if [ -z "$missing$orphans" ]; then
  pass "every migration has a rollback of the same name in supabase/rollbacks"
else
  fail "every migration has a rollback of the same name in supabase/rollbacks" \
    ${missing:+"no rollback for: $(words "$missing")"} \
    ${orphans:+"rollback without a migration: $(words "$orphans")"}
fi
count=$(printf '%s' "$migrations" | grep -c .)

# --- a freshly bootstrapped cluster to compare with ---------------------------------------

PRISTINE_PORT=$(spare_port) || bail "no free port near $DB_PORT for a scratch cluster"
PRISTINE_DIR=$(mktemp -d /tmp/beacon-pristine.XXXXXX)
chmod 755 "$PRISTINE_DIR" # the postgres OS user must reach it when we run as root
if ! (
  export BEACON_LOCAL_DIR="$PRISTINE_DIR" BEACON_DB_PORT="$PRISTINE_PORT"
  "$DB" start 2>&1 || exit 1
  source "$BEACON_ROOT/scripts/local/common.sh"
  dump_schema >"$WORK/pristine.schema.sql" && dump_roles >"$WORK/pristine.roles.sql" \
    && all_tables >"$WORK/pristine.tables"
) >"$WORK/pristine.log" 2>&1; then
  sed 's/^/# /' "$WORK/pristine.log"
  bail "could not bootstrap and dump a scratch cluster on port $PRISTINE_PORT"
fi
BEACON_LOCAL_DIR="$PRISTINE_DIR" BEACON_DB_PORT="$PRISTINE_PORT" "$DB" stop >/dev/null 2>&1
rm -rf "$PRISTINE_DIR"
PRISTINE_DIR=""

# --- the database scripts/db reset made ---------------------------------------------------

db_psql -c 'select 1' >/dev/null 2>&1 || bail "the database at $DB_URL does not answer (scripts/db reset)"
applied=$(db_psql -At -c 'select count(*) from supabase_migrations.schema_migrations' 2>&1)
if [ "$applied" = "$count" ]; then
  pass "all $count migrations are applied"
else
  fail "all $count migrations are applied" "supabase_migrations.schema_migrations has: $applied"
  bail "the round trip needs every migration applied"
fi
[ "$count" -gt 0 ] || { echo "# no migrations: nothing to roll back"; exit $((failures > 0)); }

db_psql -c "insert into auth.users (id, email, raw_user_meta_data)
            values ('$OWNER', 'rollback-check@beacon.example', '{\"name\": \"Rollback Check\"}')" \
  >/dev/null || bail "could not create the auth user that owns the test rows"
# The every-minute jobs drain queues that this check fills; paused, they cannot change the row
# counts compared below. Rolling back to zero unschedules them anyway.
admin_psql -d postgres -c 'select cron.alter_job(jobid, active := false) from cron.job' >/dev/null \
  || bail "could not pause the pg_cron jobs"
our_tables >"$WORK/tables.before"
mapfile -t tables_before <"$WORK/tables.before"
if err=$(insert_rows "${tables_before[@]}"); then
  row_counts <"$WORK/tables.before" >"$WORK/counts.before"
  empty=$(awk '$2 == 0 { print $1 }' "$WORK/counts.before")
  if [ -z "$empty" ]; then
    pass "representative rows are in every table of ours ($(grep -c . "$WORK/tables.before") tables)"
  else
    fail "representative rows are in every table of ours" \
      "no rows in: $(words "$empty")" "add an insert for it to rows_for() in scripts/local/rollback_check.sh"
  fi
else
  fail "representative rows are in every table of ours" "$err"
  row_counts <"$WORK/tables.before" >"$WORK/counts.before"
fi

# --- roll back the newest migration, then re-apply it -------------------------------------

newest=$(printf '%s\n' "$migrations" | tail -1)
MOVED=$(moved_tables "$newest")
dump_schema >"$WORK/schema.before.sql"
if out=$("$DB" down 1 2>&1); then
  pass "scripts/db down 1 rolls back $newest"
else
  fail "scripts/db down 1 rolls back $newest" "$out"
  bail "the newest migration did not roll back"
fi

our_tables >"$WORK/tables.down"
LC_ALL=C comm -23 "$WORK/tables.before" "$WORK/tables.down" >"$WORK/tables.newest"
# Rows of tables that the newest migration dropped are gone with them; compare the rest.
awk 'FILENAME == ARGV[1] { newest[$1] = 1; next } !($1 in newest)' \
  "$WORK/tables.newest" "$WORK/counts.before" >"$WORK/counts.kept"
check_rows_kept "after rolling back $newest"

if out=$("$DB" migrate 2>&1); then
  pass "scripts/db migrate re-applies $newest"
  admin_psql -d postgres -c 'select cron.alter_job(jobid, active := false) from cron.job' >/dev/null
else
  fail "scripts/db migrate re-applies $newest" "$out"
  bail "the newest migration did not re-apply"
fi
check_rows_kept "after re-applying $newest"

dump_schema >"$WORK/schema.after.sql"
if diff -u --label before --label "after down and up" "$WORK/schema.before.sql" \
  "$WORK/schema.after.sql" >"$WORK/schema.diff"; then
  pass "the schema after down and up equals the schema before"
else
  fail "the schema after down and up equals the schema before" "$(cat "$WORK/schema.diff")"
fi

mapfile -t newest_tables <"$WORK/tables.newest"
if [ ${#newest_tables[@]} -eq 0 ]; then
  echo "# $newest creates no table: nothing to refill"
elif err=$(insert_rows "${newest_tables[@]}"); then
  refilled=$(row_counts <"$WORK/tables.newest" | awk '$2 == 0 { print $1 }')
  if [ -z "$refilled" ]; then
    pass "the tables of $newest take rows again: ${newest_tables[*]}"
  else
    fail "the tables of $newest take rows again" "still empty: $(words "$refilled")"
  fi
else
  fail "the tables of $newest take rows again" "$err"
fi

# --- roll back everything: nothing of ours may remain -------------------------------------

# Down to each marked migration, its rows checked through it, then on down to zero.
applied=$count
for marked in $(marked_migrations); do
  position=$(printf '%s\n' "$migrations" | grep -nxF "$marked" | cut -d: -f1)
  if ! out=$("$DB" down $((applied - position)) 2>&1); then
    fail "scripts/db down rolls back every migration newer than $marked" "$out"
    bail "the migrations did not all roll back"
  fi
  check_rows_through "$marked"
  applied=$((position - 1))
done
if out=$("$DB" down "$applied" 2>&1); then
  pass "scripts/db down rolls back every migration ($count)"
else
  fail "scripts/db down rolls back every migration ($count)" "$out"
  bail "the migrations did not all roll back"
fi

left=$(db_psql -At -c 'select count(*) from supabase_migrations.schema_migrations' 2>&1)
if [ "$left" = 0 ]; then
  pass "the migration history is empty"
else
  fail "the migration history is empty" "supabase_migrations.schema_migrations: $left rows"
fi

if diff -u --label "fresh database" --label "after rolling back all" "$WORK/pristine.schema.sql" \
  <(dump_schema) >"$WORK/pristine.diff"; then
  pass "the schema equals a freshly bootstrapped database's (pg_dump --schema-only)"
else
  fail "the schema equals a freshly bootstrapped database's (pg_dump --schema-only)" \
    "left behind (+) or missing (-):" "$(cat "$WORK/pristine.diff")"
fi

if diff -u --label "fresh cluster" --label "after rolling back all" "$WORK/pristine.roles.sql" \
  <(dump_roles) >"$WORK/roles.diff"; then
  pass "the roles equal a freshly bootstrapped cluster's"
else
  fail "the roles equal a freshly bootstrapped cluster's" "$(cat "$WORK/roles.diff")"
fi

jobs=$(admin_psql -d postgres -At -c 'select jobname from cron.job order by 1' 2>&1)
if [ -z "$jobs" ]; then
  pass "no pg_cron job is left"
else
  fail "no pg_cron job is left" "$jobs"
fi

# --- back to what scripts/db reset makes, for the stages that follow ----------------------

# Users are the platform's, not a migration's: clear them as a fresh database has none.
admin_psql -d postgres -c 'delete from auth.users' >/dev/null
if out=$("$DB" migrate 2>&1); then
  pass "every migration re-applies after a full rollback"
else
  fail "every migration re-applies after a full rollback" "$out"
fi
if out=$(db_psql -f supabase/seed.sql 2>&1 >/dev/null); then
  pass "supabase/seed.sql loads after the round trip"
else
  fail "supabase/seed.sql loads after the round trip" "$out"
fi

exit $((failures > 0))
