-- private.jsonb_integer and private.jsonb_integer_problem: the one reading of a whole number
-- from user JSON, used by validators and runtime alike.
begin;
\ir _helpers.psql

select plan(12);

select is(private.jsonb_integer('5'), 5, '5 reads as 5');
select is(private.jsonb_integer('5.0'), 5, '5.0 reads as 5 (the value that once stopped a shared job)');
select is(private.jsonb_integer('5e0'), 5, '5e0 reads as 5');
select is(private.jsonb_integer('-7.000'), -7, 'negative whole numbers read');
select is(private.jsonb_integer('5.5'), null, 'a fraction is not an integer');
select is(private.jsonb_integer('"5"'), null, 'a string is not an integer');
select is(private.jsonb_integer('1e12'), null, 'out of the integer range is not an integer');
select is(private.jsonb_integer(null), null, 'a missing value is not an integer');

select is(private.jsonb_integer_problem('10.0', 'condition.cap', 1, 100), null,
  'a whole number in range has no problem');
select is(private.jsonb_integer_problem('5.5', 'condition.cap', 1, 100),
  'condition.cap: expected a whole number from 1 to 100, not 5.5', 'a fraction is named with its path');
select is(private.jsonb_integer_problem('"5"', 'steps[0].points', 1, 100),
  'steps[0].points: expected a whole number from 1 to 100, not "5"', 'a string is named with its path');
select is(private.jsonb_integer_problem('101', 'x', 1, 100),
  'x: expected a whole number from 1 to 100, not 101', 'out of range is named');

select * from finish();
rollback;
