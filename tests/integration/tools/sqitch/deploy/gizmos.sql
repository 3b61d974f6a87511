-- Deploy ddlgate_tools:gizmos to mysql
-- requires: widgets

BEGIN;

CREATE TABLE gizmos (
    id        INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    widget_id INT UNSIGNED NOT NULL,
    label     VARCHAR(100) NULL
) ENGINE=InnoDB;

COMMIT;
