-- A queue's results are checked set-based: private.queue_result_problems reads the whole
-- batch in one call and names each result's first problem, with the rules
-- private.queue_result_problem applied to one result at a time (it now calls the batch
-- function, so the rules live in one place). Called per result, the old function cost about
-- 0.1 ms each (a SQL function with its own search_path is planned and run apart, never
-- inlined): 10 ms of every 100-delivery email report (docs/performance.md).

create function private.queue_result_problems(results jsonb, id_key text, id_noun text, first_index integer default 0)
returns table (i integer, problem text)
language sql
immutable
set search_path = ''
as $_$
  select i, problem
  from (
    select
      p.i,
      coalesce(
        case when jsonb_typeof(p.r) <> 'object' then format('results[%s]: expected an object, not %s', p.i, p.r) end,
        case when jsonb_typeof(p.r -> id_key) is distinct from 'string'
                  or lower(p.r ->> id_key) !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
          format('results[%s].%s: %s is not a %s id', p.i, id_key, coalesce(p.r -> id_key, 'null'), id_noun)
        end,
        case when (p.r ->> 'outcome') is null or (p.r ->> 'outcome') not in ('sent', 'retry', 'failed') then
          format('results[%s].outcome: %s is not sent, retry or failed', p.i, coalesce(p.r -> 'outcome', 'null'))
        end,
        case when jsonb_typeof(p.r -> 'error') not in ('string', 'null') then
          format('results[%s].error: expected a string, not %s', p.i, p.r -> 'error')
        end,
        -- Most results carry no retry-after: only those that do are checked by the shared rule.
        case when p.r -> 'retry_after_seconds' is not null then
          private.retry_after_problem(p.r -> 'retry_after_seconds', format('results[%s].retry_after_seconds', p.i))
        end
      ) as problem
    from (
      select (e.n - 1 + first_index)::integer as i, e.r
      from jsonb_array_elements(results) with ordinality as e (r, n)
    ) as p
  ) as checked
  where problem is not null
$_$;
comment on function private.queue_result_problems(jsonb, text, text, integer) is
  'The problems of a batch of results reported to a queue (objects with id_key, outcome, error?, retry_after_seconds?), each with its index (counted from first_index); none when all are well.';
revoke all on function private.queue_result_problems(jsonb, text, text, integer) from public, anon, authenticated, service_role;

create or replace function private.queue_result_problem(result jsonb, i integer, id_key text, id_noun text)
returns text
language sql
immutable
set search_path = ''
as $$
  select q.problem from private.queue_result_problems(jsonb_build_array(result), id_key, id_noun, i) as q
$$;
