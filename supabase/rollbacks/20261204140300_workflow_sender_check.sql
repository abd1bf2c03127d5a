drop trigger check_senders on public.workflows;
drop function private.check_workflow_senders();
