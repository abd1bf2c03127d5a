-- Rollback of 20261210150300_background_failures: the recorded failures are private again.
drop function public.background_failures();
drop function reporting.background_failures();
