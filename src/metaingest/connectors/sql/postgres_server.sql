-- Server-level checks for PostgreSQL, run once at the start of a run (metaingest.preflight).

-- name: connect_denied
-- Databases a listing run would read but the user may not connect to (the databases query
-- leaves them out): reported as skipped, not silently missing.
SELECT d.datname AS name
FROM pg_catalog.pg_database AS d
WHERE d.datallowconn AND NOT d.datistemplate
  AND NOT pg_catalog.has_database_privilege(d.oid, 'CONNECT')
ORDER BY d.datname;

-- name: capacity
-- How many more connections the server would accept now: max_connections less the slots
-- reserved for superusers and the connections in use; and the role's own CONNECTION LIMIT.
SELECT pg_catalog.current_setting('max_connections')::int AS max_connections,
       pg_catalog.current_setting('superuser_reserved_connections')::int AS reserved,
       (SELECT count(*) FROM pg_catalog.pg_stat_activity AS a
        WHERE a.backend_type = 'client backend')::int AS in_use,
       r.rolconnlimit AS role_limit,
       (SELECT count(*) FROM pg_catalog.pg_stat_activity AS a
        WHERE a.backend_type = 'client backend' AND a.usename = r.rolname)::int AS role_in_use
FROM pg_catalog.pg_roles AS r
WHERE r.rolname = current_user;
