-- Revert ddlgate_tools:gizmos from mysql

BEGIN;

DROP TABLE gizmos;

COMMIT;
