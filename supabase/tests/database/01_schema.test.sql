-- Schema shape: the nine tables of public, their columns (type, nullability, default),
-- comments, keys, foreign keys, the seed's indexes and the tenant list indexes, and
-- search_path = '' on every function.
begin;
\ir _helpers.psql

select plan(395);

select tables_are(
  'public',
  array[
    'campaigns', 'leads', 'content', 'social_connections', 'email_campaigns',
    'analytics_events', 'user_secrets', 'workflows', 'workflow_executions',
    'email_suppressions', 'email_deliveries',
    'scoring_rules', 'scoring_settings', 'lead_score_ledger', 'lead_status_history', 'workflow_run_requests',
    'sending_domains', 'write_keys', 'collect_settings', 'social_posts',
    'lists', 'list_memberships', 'forms', 'consents', 'segments', 'scoring_rule_changes'
  ],
  'public holds exactly the nine seed tables, the email pipeline''s two (30_email_* test those), scoring''s and workflows'' five (40_scoring_*, 50_workflows_*), scoring_rule_changes (40_scoring_profile), sending_domains (30_email_senders), collection''s two (70_collect), social_posts (92_social_*) and the audience''s lists, forms and consents (74_lists, 75_forms) and segments (91_segments)'
);

-- Every column of every table, as the spec has it: type, not null, default (null: none).
create table tests.expected_columns (
  ord serial,
  tbl text,
  col text,
  type text,
  not_null boolean,
  dflt text
);
insert into tests.expected_columns (tbl, col, type, not_null, dflt) values
  ('campaigns', 'id', 'uuid', true, 'gen_random_uuid()'),
  ('campaigns', 'user_id', 'uuid', true, 'auth.uid()'),
  ('campaigns', 'name', 'text', true, null),
  ('campaigns', 'type', 'text', true, null),
  ('campaigns', 'status', 'text', true, '''draft''::text'),
  ('campaigns', 'description', 'text', false, null),
  ('campaigns', 'config', 'jsonb', true, '''{}''::jsonb'),
  ('campaigns', 'created_at', 'timestamp with time zone', true, 'now()'),
  ('campaigns', 'updated_at', 'timestamp with time zone', true, 'now()'),

  ('leads', 'id', 'uuid', true, 'gen_random_uuid()'),
  ('leads', 'user_id', 'uuid', true, 'auth.uid()'),
  ('leads', 'email', 'text', true, null),
  ('leads', 'first_name', 'text', false, null),
  ('leads', 'last_name', 'text', false, null),
  ('leads', 'company', 'text', false, null),
  ('leads', 'phone', 'text', false, null),
  ('leads', 'score', 'integer', true, '0'),
  ('leads', 'status', 'text', true, '''new''::text'),
  ('leads', 'source', 'text', false, null),
  ('leads', 'tags', 'text[]', true, '''{}''::text[]'),
  ('leads', 'custom_fields', 'jsonb', true, '''{}''::jsonb'),
  ('leads', 'created_at', 'timestamp with time zone', true, 'now()'),
  ('leads', 'updated_at', 'timestamp with time zone', true, 'now()'),
  ('leads', 'email_normalized', 'text', false, 'lower(btrim(email))'),
  ('leads', 'subscription_status', 'text', true, '''subscribed''::text'),
  ('leads', 'subscription_changed_at', 'timestamp with time zone', true, 'now()'),

  ('content', 'id', 'uuid', true, 'gen_random_uuid()'),
  ('content', 'user_id', 'uuid', true, 'auth.uid()'),
  ('content', 'title', 'text', true, null),
  ('content', 'content_type', 'text', true, null),
  ('content', 'content', 'text', true, null),
  ('content', 'metadata', 'jsonb', true, '''{}''::jsonb'),
  ('content', 'status', 'text', true, '''draft''::text'),
  ('content', 'scheduled_at', 'timestamp with time zone', false, null),
  ('content', 'created_at', 'timestamp with time zone', true, 'now()'),
  ('content', 'updated_at', 'timestamp with time zone', true, 'now()'),
  ('content', 'published_at', 'timestamp with time zone', false, null),
  ('content', 'campaign_id', 'uuid', false, null),
  ('content', 'publish_error', 'text', false, null),

  ('social_connections', 'id', 'uuid', true, 'gen_random_uuid()'),
  ('social_connections', 'user_id', 'uuid', true, 'auth.uid()'),
  ('social_connections', 'platform', 'text', true, null),
  ('social_connections', 'platform_user_id', 'text', true, null),
  ('social_connections', 'username', 'text', false, null),
  ('social_connections', 'access_token', 'text', true, null),
  ('social_connections', 'refresh_token', 'text', false, null),
  ('social_connections', 'expires_at', 'timestamp with time zone', false, null),
  ('social_connections', 'is_active', 'boolean', true, 'true'),
  ('social_connections', 'created_at', 'timestamp with time zone', true, 'now()'),
  ('social_connections', 'updated_at', 'timestamp with time zone', true, 'now()'),
  ('social_connections', 'scopes', 'text[]', true, '''{}''::text[]'),
  ('social_connections', 'status', 'text', true, '''active''::text'),
  ('social_connections', 'last_error', 'text', false, null),
  ('social_connections', 'last_refreshed_at', 'timestamp with time zone', false, null),
  ('social_connections', 'refresh_failures', 'integer', true, '0'),
  ('social_connections', 'next_refresh_at', 'timestamp with time zone', false, null),
  ('social_connections', 'accounts', 'jsonb', true, '''[]''::jsonb'),

  ('email_campaigns', 'id', 'uuid', true, 'gen_random_uuid()'),
  ('email_campaigns', 'user_id', 'uuid', true, 'auth.uid()'),
  ('email_campaigns', 'campaign_id', 'uuid', false, null),
  ('email_campaigns', 'subject', 'text', true, null),
  ('email_campaigns', 'content', 'text', true, null),
  ('email_campaigns', 'template_id', 'uuid', false, null),
  ('email_campaigns', 'recipient_list', 'jsonb', true, null),
  ('email_campaigns', 'send_at', 'timestamp with time zone', false, null),
  ('email_campaigns', 'status', 'text', true, '''draft''::text'),
  ('email_campaigns', 'metrics', 'jsonb', true, '''{}''::jsonb'),
  ('email_campaigns', 'created_at', 'timestamp with time zone', true, 'now()'),
  ('email_campaigns', 'updated_at', 'timestamp with time zone', true, 'now()'),
  ('email_campaigns', 'from_email', 'text', false, null),
  ('email_campaigns', 'from_name', 'text', false, null),
  ('email_campaigns', 'reply_to', 'text', false, null),
  ('email_campaigns', 'error_message', 'text', false, null),
  ('email_campaigns', 'purpose', 'text', true, '''marketing''::text'),

  ('analytics_events', 'id', 'uuid', true, 'gen_random_uuid()'),
  ('analytics_events', 'user_id', 'uuid', true, 'auth.uid()'),
  ('analytics_events', 'event_type', 'text', true, null),
  ('analytics_events', 'event_name', 'text', true, null),
  ('analytics_events', 'properties', 'jsonb', true, '''{}''::jsonb'),
  ('analytics_events', 'timestamp', 'timestamp with time zone', true, 'now()'),
  ('analytics_events', 'session_id', 'text', false, null),
  ('analytics_events', 'user_agent', 'text', false, null),
  ('analytics_events', 'ip_address', 'inet', false, null),
  ('analytics_events', 'anonymous_id', 'text', false, null),
  ('analytics_events', 'message_id', 'text', false, null),

  ('user_secrets', 'id', 'uuid', true, 'gen_random_uuid()'),
  ('user_secrets', 'user_id', 'uuid', true, 'auth.uid()'),
  ('user_secrets', 'secret_name', 'text', true, null),
  ('user_secrets', 'encrypted_value', 'text', true, null),
  ('user_secrets', 'created_at', 'timestamp with time zone', true, 'now()'),
  ('user_secrets', 'updated_at', 'timestamp with time zone', true, 'now()'),

  ('workflows', 'id', 'uuid', true, 'gen_random_uuid()'),
  ('workflows', 'user_id', 'uuid', true, 'auth.uid()'),
  ('workflows', 'name', 'text', true, null),
  ('workflows', 'description', 'text', false, null),
  ('workflows', 'trigger_config', 'jsonb', true, null),
  ('workflows', 'action_config', 'jsonb', true, null),
  ('workflows', 'is_active', 'boolean', true, 'true'),
  ('workflows', 'created_at', 'timestamp with time zone', true, 'now()'),
  ('workflows', 'updated_at', 'timestamp with time zone', true, 'now()'),

  ('workflow_executions', 'id', 'uuid', true, 'gen_random_uuid()'),
  ('workflow_executions', 'workflow_id', 'uuid', true, null),
  ('workflow_executions', 'user_id', 'uuid', true, 'auth.uid()'),
  ('workflow_executions', 'trigger_data', 'jsonb', true, '''{}''::jsonb'),
  ('workflow_executions', 'status', 'text', true, '''running''::text'),
  ('workflow_executions', 'error_message', 'text', false, null),
  ('workflow_executions', 'started_at', 'timestamp with time zone', true, 'now()'),
  ('workflow_executions', 'completed_at', 'timestamp with time zone', false, null),
  ('workflow_executions', 'step_results', 'jsonb', true, '''[]''::jsonb');

select columns_are('public', tbl, cols, format('%s has exactly the spec''s columns', tbl))
from (
  select tbl, array_agg(col order by ord) as cols, min(ord) as first
  from tests.expected_columns
  group by tbl
) as per_table
order by first;

-- Three assertions per column, in the order above.
select case n
  when 1 then col_type_is('public', e.tbl, e.col, e.type, format('%s.%s is %s', e.tbl, e.col, e.type))
  when 2 then is(actual.attnotnull, e.not_null,
    format('%s.%s is %s', e.tbl, e.col, case when e.not_null then 'not null' else 'nullable' end))
  else is(actual.actual_default, e.dflt,
    format('%s.%s %s', e.tbl, e.col, coalesce('defaults to ' || e.dflt, 'has no default')))
end
from tests.expected_columns as e
left join lateral (
  select a.attnotnull, pg_get_expr(d.adbin, d.adrelid) as actual_default
  from pg_attribute as a
  left join pg_attrdef as d on d.adrelid = a.attrelid and d.adnum = a.attnum
  where a.attrelid = to_regclass('public.' || quote_ident(e.tbl))
    and a.attname = e.col
    and not a.attisdropped
) as actual on true
cross join generate_series(1, 3) as n
order by e.ord, n;

-- Comments (Studio and generated types show them).
select isnt(
  obj_description(to_regclass('public.' || tbl), 'pg_class'),
  null,
  format('table %s has a comment', tbl)
)
from unnest(array[
  'campaigns', 'leads', 'content', 'social_connections', 'email_campaigns',
  'analytics_events', 'user_secrets', 'workflows', 'workflow_executions'
]) with ordinality as t (tbl, n)
order by n;

-- Unique keys.
select col_is_unique('public', 'campaigns', array['id', 'user_id'],
  'campaigns (id, user_id) is unique: the target of children''s composite keys');
select col_is_unique('public', 'content', array['id', 'user_id'],
  'content (id, user_id) is unique: the target of email_campaigns.template_id');
select col_is_unique('public', 'workflows', array['id', 'user_id'],
  'workflows (id, user_id) is unique: the target of workflow_executions');
select col_is_unique('public', 'social_connections', array['user_id', 'platform'],
  'social_connections: one connection per user and platform');
select col_is_unique('public', 'user_secrets', array['user_id', 'secret_name'],
  'user_secrets: one secret per user and name');

-- Indexes, by their full definition (columns, order, uniqueness).
select is(
  (select pg_get_indexdef(c.oid) from pg_class as c
   where c.relname = idx and c.relnamespace = 'public'::regnamespace and c.relkind in ('i', 'I')),
  def,
  format('index %s exists as specified', idx)
)
from (values
  (1, 'idx_campaigns_user_id', 'CREATE INDEX idx_campaigns_user_id ON public.campaigns USING btree (user_id)'),
  (2, 'idx_campaigns_status', 'CREATE INDEX idx_campaigns_status ON public.campaigns USING btree (status)'),
  (3, 'idx_leads_user_id', 'CREATE INDEX idx_leads_user_id ON public.leads USING btree (user_id)'),
  (4, 'idx_leads_score', 'CREATE INDEX idx_leads_score ON public.leads USING btree (score DESC)'),
  (5, 'idx_leads_status', 'CREATE INDEX idx_leads_status ON public.leads USING btree (status)'),
  (6, 'idx_content_user_id', 'CREATE INDEX idx_content_user_id ON public.content USING btree (user_id)'),
  (7, 'idx_content_type', 'CREATE INDEX idx_content_type ON public.content USING btree (content_type)'),
  (8, 'idx_content_status', 'CREATE INDEX idx_content_status ON public.content USING btree (status)'),
  (9, 'idx_analytics_user_id',
    'CREATE INDEX idx_analytics_user_id ON ONLY public.analytics_events USING btree (user_id)'),
  (10, 'idx_analytics_timestamp',
    'CREATE INDEX idx_analytics_timestamp ON ONLY public.analytics_events USING btree ("timestamp" DESC)'),
  (11, 'idx_analytics_event_type',
    'CREATE INDEX idx_analytics_event_type ON ONLY public.analytics_events USING btree (event_type)'),
  (12, 'leads_user_id_email_key',
    'CREATE UNIQUE INDEX leads_user_id_email_key ON public.leads USING btree (user_id, email_normalized)'),
  (13, 'campaigns_user_id_created_at_idx',
    'CREATE INDEX campaigns_user_id_created_at_idx ON public.campaigns USING btree (user_id, created_at DESC)'),
  (14, 'leads_user_id_created_at_idx',
    'CREATE INDEX leads_user_id_created_at_idx ON public.leads USING btree (user_id, created_at DESC)'),
  (15, 'content_user_id_created_at_idx',
    'CREATE INDEX content_user_id_created_at_idx ON public.content USING btree (user_id, created_at DESC)'),
  (16, 'social_connections_user_id_created_at_idx',
    'CREATE INDEX social_connections_user_id_created_at_idx ON public.social_connections USING btree (user_id, created_at DESC)'),
  (17, 'email_campaigns_user_id_created_at_idx',
    'CREATE INDEX email_campaigns_user_id_created_at_idx ON public.email_campaigns USING btree (user_id, created_at DESC)'),
  (18, 'user_secrets_user_id_created_at_idx',
    'CREATE INDEX user_secrets_user_id_created_at_idx ON public.user_secrets USING btree (user_id, created_at DESC)'),
  (19, 'workflows_user_id_created_at_idx',
    'CREATE INDEX workflows_user_id_created_at_idx ON public.workflows USING btree (user_id, created_at DESC)'),
  (20, 'analytics_events_user_id_timestamp_idx',
    'CREATE INDEX analytics_events_user_id_timestamp_idx ON ONLY public.analytics_events USING btree (user_id, "timestamp" DESC)'),
  (21, 'workflow_executions_user_id_started_at_idx',
    'CREATE INDEX workflow_executions_user_id_started_at_idx ON public.workflow_executions USING btree (user_id, started_at DESC)')
) as expected (n, idx, def)
order by n;

select is_empty(
  $$
    select format('%s.%s', c.conrelid::regclass, c.conname)
    from pg_constraint as c
    where c.contype = 'f'
      and c.connamespace = 'public'::regnamespace
      and not exists (
        select 1
        from pg_index as i
        where i.indrelid = c.conrelid
          and (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey
          and (i.indkey::int2[])[0:cardinality(c.conkey) - 1] <@ c.conkey
      )
  $$,
  'every foreign key in public is covered by an index that starts with its columns'
);

-- Foreign keys: every row belongs to an auth user and goes with them.
select is(
  (select count(*)::int
   from pg_constraint as c
   where c.conrelid = to_regclass('public.' || tbl)
     and c.contype = 'f'
     and c.confrelid = 'auth.users'::regclass
     and c.conkey = array[(select attnum from pg_attribute
                           where attrelid = c.conrelid and attname = 'user_id')]
     and c.confkey = array[(select attnum from pg_attribute
                            where attrelid = 'auth.users'::regclass and attname = 'id')]
     and c.confdeltype = 'c'),
  1,
  format('%s.user_id references auth.users (id) on delete cascade', tbl)
)
from unnest(array[
  'campaigns', 'leads', 'content', 'social_connections', 'email_campaigns',
  'analytics_events', 'user_secrets', 'workflows', 'workflow_executions'
]) with ordinality as t (tbl, n)
order by n;

select fk_ok(
  'public', 'email_campaigns', array['campaign_id', 'user_id'],
  'public', 'campaigns', array['id', 'user_id'],
  'email_campaigns (campaign_id, user_id) references campaigns (id, user_id)'
);
select is(
  (select (c.confdeltype, c.confdelsetcols)::text from pg_constraint as c
   where c.conrelid = 'public.email_campaigns'::regclass and c.confrelid = 'public.campaigns'::regclass),
  (select ('n', array[attnum])::text from pg_attribute
   where attrelid = 'public.email_campaigns'::regclass and attname = 'campaign_id'),
  'deleting a campaign sets only email_campaigns.campaign_id to null'
);
select fk_ok(
  'public', 'email_campaigns', array['template_id', 'user_id'],
  'public', 'content', array['id', 'user_id'],
  'email_campaigns (template_id, user_id) references content (id, user_id)'
);
select is(
  (select (c.confdeltype, c.confdelsetcols)::text from pg_constraint as c
   where c.conrelid = 'public.email_campaigns'::regclass and c.confrelid = 'public.content'::regclass),
  (select ('n', array[attnum])::text from pg_attribute
   where attrelid = 'public.email_campaigns'::regclass and attname = 'template_id'),
  'deleting a template sets only email_campaigns.template_id to null'
);
select fk_ok(
  'public', 'workflow_executions', array['workflow_id', 'user_id'],
  'public', 'workflows', array['id', 'user_id'],
  'workflow_executions (workflow_id, user_id) references workflows (id, user_id)'
);
select is(
  (select c.confdeltype::text from pg_constraint as c
   where c.conrelid = 'public.workflow_executions'::regclass and c.confrelid = 'public.workflows'::regclass),
  'c',
  'deleting a workflow deletes its executions'
);

-- Functions: search_path = '' so that no caller's search_path can redirect them.
select is(
  (select proconfig from pg_proc where oid = to_regprocedure(sig)),
  array['search_path=""'],
  format('%s exists and sets search_path = ''''', sig)
)
from unnest(array[
  'private.set_updated_at()',
  'private.secure_tenant_table(regclass)',
  'public.lead_profile_score(public.leads)',
  'private.set_lead_score()',
  'private.set_execution_owner()',
  'public.calculate_lead_score(uuid)'
]) with ordinality as f (sig, n)
order by n;

select is_empty(
  $$
    select p.oid::regprocedure::text
    from pg_proc as p
    where p.pronamespace in ('public'::regnamespace, 'private'::regnamespace)
      and not coalesce(p.proconfig @> array['search_path=""'], false)
  $$,
  'no function in public or private runs without search_path = '''''
);

select * from finish();
rollback;
