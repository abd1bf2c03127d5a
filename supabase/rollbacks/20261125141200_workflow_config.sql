drop trigger sync_trigger on public.workflows;
drop trigger check_config on public.workflows;
drop function private.sync_workflow_trigger();
drop function private.compile_workflow_trigger(public.workflows);
drop function private.check_workflow_config();
drop function private.workflow_steps_problem(jsonb, uuid);
drop function private.workflow_trigger_problem(jsonb, uuid);
drop table private.workflow_triggers;
