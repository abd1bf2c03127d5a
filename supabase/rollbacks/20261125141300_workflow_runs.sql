drop function private.start_workflow_executions(uuid[], uuid[], uuid[], jsonb[]);
drop function private.current_workflow_chain();
drop function private.max_workflow_depth();
drop table private.workflow_runs;
alter table public.workflow_executions
  drop constraint workflow_executions_step_results_check,
  drop column step_results;
