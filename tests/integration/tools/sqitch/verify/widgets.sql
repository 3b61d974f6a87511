-- Verify ddlgate_tools:widgets on mysql

SELECT id, name, created FROM widgets WHERE 0;
