-- Rollback of 20261206130000_workflow_conditions_hold.
drop function private.workflow_conditions_hold(uuid[], jsonb);
