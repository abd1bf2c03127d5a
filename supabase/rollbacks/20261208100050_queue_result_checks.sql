-- Back to the per-result check (as 20261206100000_jobs made it).
drop function private.queue_result_problems(jsonb, text, text, integer);

create or replace function private.queue_result_problem(result jsonb, i integer, id_key text, id_noun text) RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $_$
  select coalesce(
    case when jsonb_typeof(result) <> 'object' then format('results[%s]: expected an object, not %s', i, result) end,
    case when jsonb_typeof(result -> id_key) is distinct from 'string'
              or lower(result ->> id_key) !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
      format('results[%s].%s: %s is not a %s id', i, id_key, coalesce(result -> id_key, 'null'), id_noun)
    end,
    case when (result ->> 'outcome') is null or (result ->> 'outcome') not in ('sent', 'retry', 'failed') then
      format('results[%s].outcome: %s is not sent, retry or failed', i, coalesce(result -> 'outcome', 'null'))
    end,
    case when jsonb_typeof(result -> 'error') not in ('string', 'null') then
      format('results[%s].error: expected a string, not %s', i, result -> 'error')
    end,
    private.retry_after_problem(result -> 'retry_after_seconds', format('results[%s].retry_after_seconds', i))
  )
$_$;


