drop function public.run_workflow(uuid, uuid);
drop table public.workflow_run_requests;
drop function private.start_manual_run();
