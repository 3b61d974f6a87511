-- ddlgate:migration name="m1"
SELECT 1