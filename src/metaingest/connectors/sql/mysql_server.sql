-- Server-level checks for MySQL and MariaDB, run once at the start of a run
-- (metaingest.preflight).

-- name: capacity
SELECT @@max_connections AS max_connections, @@max_user_connections AS max_user_connections;

-- name: column_grants
-- Tables the current user sees through column-level grants only: information_schema then
-- shows just the granted columns (and no keys). A table-, schema- or server-level privilege
-- of any kind shows every column, so such tables are not listed. GRANTEE reads
-- 'user'@'host'; a schema grant's name may hold wildcards (LIKE). Privileges that come
-- through roles are not followed.
SELECT DISTINCT c.TABLE_SCHEMA AS schema_name, c.TABLE_NAME AS table_name
FROM information_schema.COLUMN_PRIVILEGES AS c
JOIN (
  SELECT CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''',
                SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''') AS grantee
) AS me ON c.GRANTEE = me.grantee
WHERE NOT EXISTS (
    SELECT 1 FROM information_schema.TABLE_PRIVILEGES AS t
    WHERE t.GRANTEE = me.grantee AND t.TABLE_SCHEMA = c.TABLE_SCHEMA
      AND t.TABLE_NAME = c.TABLE_NAME)
  AND NOT EXISTS (
    SELECT 1 FROM information_schema.SCHEMA_PRIVILEGES AS s
    WHERE s.GRANTEE = me.grantee AND c.TABLE_SCHEMA LIKE s.TABLE_SCHEMA)
  AND NOT EXISTS (
    SELECT 1 FROM information_schema.USER_PRIVILEGES AS u
    WHERE u.GRANTEE = me.grantee AND u.PRIVILEGE_TYPE <> 'USAGE')
ORDER BY schema_name, table_name;
