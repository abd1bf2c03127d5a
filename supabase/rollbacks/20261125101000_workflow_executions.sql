drop table public.workflow_executions;
drop function private.set_execution_owner();
