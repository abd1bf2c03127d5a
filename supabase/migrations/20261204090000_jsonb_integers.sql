-- One definition of "a whole number in user JSON", shared by every validator and every
-- runtime read, so that what a validator accepts the runtime can always run.
--
-- A JSON number is whole when it has no fraction, however it is written: 5, 5.0 and 5e0 are
-- all 5; 5.5 and "5" are not numbers we accept. Validators call private.jsonb_integer_problem
-- (a message naming the path, or null); runtime code calls private.jsonb_integer, never a bare
-- `::integer` on user JSON (which fails on "5.0" and would stop a shared job).

create function private.jsonb_integer(value jsonb)
returns integer
language sql
immutable
parallel safe
set search_path = ''
as $$
  select case
    when jsonb_typeof(value) = 'number'
     and (value #>> '{}')::numeric % 1 = 0
     and (value #>> '{}')::numeric between -2147483648 and 2147483647
    then (value #>> '{}')::numeric::integer
  end
$$;

comment on function private.jsonb_integer(jsonb) is
  'A whole JSON number (5, 5.0, 5e0) as integer; null for anything else (fractions, strings, '
  'out of range). The one way runtime code reads an integer from user JSON.';

create function private.jsonb_integer_problem(value jsonb, path text, min_value integer, max_value integer)
returns text
language sql
immutable
parallel safe
set search_path = ''
as $$
  select case
    when private.jsonb_integer(value) between min_value and max_value then null
    else format('%s: expected a whole number from %s to %s, not %s',
      path, min_value, max_value, coalesce(left(value::text, 100), 'nothing'))
  end
$$;

comment on function private.jsonb_integer_problem(jsonb, text, integer, integer) is
  'Null when value is a whole JSON number within [min_value, max_value]; otherwise a message '
  'that names path. Validators use it so they accept exactly what private.jsonb_integer reads.';

revoke all on function private.jsonb_integer(jsonb) from public, anon, authenticated;
revoke all on function private.jsonb_integer_problem(jsonb, text, integer, integer)
  from public, anon, authenticated;
