create or replace function public.import_leads(rows jsonb, mode text default 'upsert')
returns jsonb
language plpgsql
security invoker
set search_path = ''
as $_$
declare
  total integer;
  stack int4range[];
  part int4range;
  lo integer;
  hi integer;
  n_inserted integer;
  n_updated integer;
  n_matched integer;
  missing integer[];
  inserted integer := 0;
  updated integer := 0;
  unchanged integer := 0;
  errors jsonb := '[]'::jsonb;
  message text;
  constraint_name text;
  column_name text;
begin
  if jsonb_typeof(rows) is distinct from 'array' then
    raise exception using errcode = '22023',
      message = 'import_leads: rows must be a JSON array of lead objects';
  end if;
  if mode is null or mode not in ('upsert', 'insert_only', 'update_only') then
    raise exception using errcode = '22023',
      message = format('import_leads: mode must be upsert, insert_only or update_only, not %s',
                       coalesce(mode, 'null'));
  end if;
  total := jsonb_array_length(rows);
  if total > 5000 then
    raise exception using errcode = '22023',
      message = format('import_leads: at most 5000 rows per call, not %s', total);
  end if;
  if total = 0 then
    return jsonb_build_object('inserted', 0, 'updated', 0, 'unchanged', 0, 'failed', 0,
                              'errors', '[]'::jsonb);
  end if;

  stack := array[int4range(1, total, '[]')];
  while cardinality(stack) > 0 loop
    part := stack[cardinality(stack)];
    stack := stack[1:cardinality(stack) - 1];
    lo := lower(part);
    hi := upper(part) - 1;
    begin
      with input as (
        select i as n, r.*
        from generate_series(lo, hi) as i,
          jsonb_to_record(rows -> (i - 1)) as r (email text, first_name text, last_name text,
            company text, phone text, status text, source text, tags text[], custom_fields jsonb)
      ),
      proposed as (
        select i.n, l.id,
          coalesce(i.first_name, l.first_name) as first_name,
          coalesce(i.last_name, l.last_name) as last_name,
          coalesce(i.company, l.company) as company,
          coalesce(i.phone, l.phone) as phone,
          coalesce(i.status, l.status) as status,
          coalesce(i.source, l.source) as source,
          array(select t from unnest(l.tags || coalesce(i.tags, '{}')) with ordinality as u (t, o)
                group by t order by min(o)) as tags,
          l.custom_fields || coalesce(i.custom_fields, '{}') as custom_fields,
          (l.first_name, l.last_name, l.company, l.phone, l.status, l.source, l.tags,
           l.custom_fields) as old
        from input as i
        join public.leads as l
          on l.user_id = (select auth.uid()) and l.email_normalized = lower(btrim(i.email))
      ),
      changed as (
        update public.leads as l
        set first_name = p.first_name, last_name = p.last_name, company = p.company,
            phone = p.phone, status = p.status, source = p.source, tags = p.tags,
            custom_fields = p.custom_fields
        from proposed as p
        where mode <> 'insert_only'
          and l.id = p.id
          and p.old is distinct from (p.first_name, p.last_name, p.company, p.phone, p.status,
                                      p.source, p.tags, p.custom_fields)
        returning p.n
      ),
      added as (
        insert into public.leads (email, first_name, last_name, company, phone, status, source,
                                  tags, custom_fields)
        select btrim(i.email), i.first_name, i.last_name, i.company, i.phone,
          coalesce(i.status, 'new'), i.source,
          array(select t from unnest(coalesce(i.tags, '{}')) with ordinality as u (t, o)
                group by t order by min(o)),
          coalesce(i.custom_fields, '{}')
        from input as i
        where mode <> 'update_only'
          and not exists (select from proposed as p where p.n = i.n)
        order by i.n
        returning 1
      )
      select (select count(*) from added), (select count(*) from changed),
        (select count(*) from proposed),
        array(select i.n from input as i
              where mode = 'update_only' and not exists (select from proposed as p where p.n = i.n)
              order by i.n)
      into n_inserted, n_updated, n_matched, missing;
      inserted := inserted + n_inserted;
      updated := updated + n_updated;
      unchanged := unchanged + n_matched - n_updated;
      errors := errors || coalesce((
        select jsonb_agg(jsonb_build_object('index', m, 'field', 'email', 'message',
          'no lead has this email (mode update_only does not insert)') order by m)
        from unnest(missing) as m), '[]');
    exception when others then
      if lo < hi then
        stack := stack || int4range((lo + hi) / 2 + 1, hi, '[]') || int4range(lo, (lo + hi) / 2, '[]');
      else
        get stacked diagnostics message = message_text, constraint_name = constraint_name,
                                column_name = column_name;
        errors := errors || jsonb_build_object(
          'index', lo,
          'field', case
            when column_name <> '' then column_name
            when constraint_name = 'leads_user_id_email_key' then 'email'
            when constraint_name ~ '^leads_.+_check$'
              then substring(constraint_name from '^leads_(.+)_check$')
          end,
          'message', message);
      end if;
    end;
  end loop;

  -- Parts are taken first half first, so the errors are in row order.
  -- Parts are taken first half first, so the errors are in row order.
  return jsonb_build_object('inserted', inserted, 'updated', updated, 'unchanged', unchanged,
    'failed', jsonb_array_length(errors),
    'errors', errors);
end;
$_$;

comment on function public.import_leads(jsonb, text) is
  'One import batch as the caller: upsert/insert_only/update_only by email_normalized, tags and custom_fields merged, one statement per batch, refused rows reported with the constraint''s message.';
