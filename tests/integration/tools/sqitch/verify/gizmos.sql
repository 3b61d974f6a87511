-- Verify ddlgate_tools:gizmos on mysql

SELECT id, widget_id, label FROM gizmos WHERE 0;
