-- Revert ddlgate_tools:widgets from mysql

BEGIN;

DROP TABLE widgets;

COMMIT;
