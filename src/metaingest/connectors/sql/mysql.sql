-- Catalog queries for MySQL and MariaDB. Every value is a bind parameter (%s); each
-- per-schema query reads one information_schema view for the whole schema, so a schema
-- costs the same number of queries whatever its number of tables. information_schema
-- compares names case-insensitively: the first condition on the schema lets the server
-- open only that schema, the second (binary) keeps exact matches. Rows are matched to
-- tables in Python by exact name. Only columns the connector uses are selected: the
-- client decodes every value in Python (PyMySQL).

-- name: schemas
SELECT SCHEMA_NAME AS name
FROM information_schema.SCHEMATA
ORDER BY SCHEMA_NAME;

-- name: schemas_with_comment
SELECT SCHEMA_NAME AS name, SCHEMA_COMMENT AS comment
FROM information_schema.SCHEMATA
ORDER BY SCHEMA_NAME;

-- name: tables
SELECT TABLE_NAME AS table_name, TABLE_TYPE AS table_type,
       TABLE_COMMENT AS comment,
       CREATE_OPTIONS AS create_options,
       -- the engine's statistics: an estimate for InnoDB; NULL for views
       TABLE_ROWS AS row_estimate, DATA_LENGTH + INDEX_LENGTH AS size_bytes
FROM information_schema.TABLES
WHERE TABLE_SCHEMA = %s AND BINARY TABLE_SCHEMA = %s;

-- name: columns
SELECT TABLE_NAME AS table_name, COLUMN_NAME AS name,
       ORDINAL_POSITION AS ordinal_position, COLUMN_TYPE AS column_type,
       CHARACTER_MAXIMUM_LENGTH AS char_length,
       NUMERIC_PRECISION AS numeric_precision, NUMERIC_SCALE AS numeric_scale,
       IS_NULLABLE AS is_nullable, COLUMN_DEFAULT AS column_default, EXTRA AS extra,
       GENERATION_EXPRESSION AS generation_expression, COLUMN_COMMENT AS comment
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = %s AND BINARY TABLE_SCHEMA = %s;

-- name: constraints
SELECT TABLE_NAME AS table_name,
       CONSTRAINT_NAME AS name, CONSTRAINT_TYPE AS constraint_type
FROM information_schema.TABLE_CONSTRAINTS
WHERE TABLE_SCHEMA = %s AND BINARY TABLE_SCHEMA = %s
  AND CONSTRAINT_TYPE IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY');

-- name: key_columns
SELECT TABLE_NAME AS table_name,
       CONSTRAINT_NAME AS name, COLUMN_NAME AS column_name,
       ORDINAL_POSITION AS ordinal_position,
       REFERENCED_TABLE_SCHEMA AS referred_schema, REFERENCED_TABLE_NAME AS referred_table,
       REFERENCED_COLUMN_NAME AS referred_column
FROM information_schema.KEY_COLUMN_USAGE
WHERE TABLE_SCHEMA = %s AND BINARY TABLE_SCHEMA = %s;

-- name: views
SELECT TABLE_NAME AS table_name,
       DEFINER AS definer,
       VIEW_DEFINITION AS definition
FROM information_schema.VIEWS
WHERE TABLE_SCHEMA = %s AND BINARY TABLE_SCHEMA = %s;

-- name: json_checks
-- MariaDB's JSON is LONGTEXT with a column-level CHECK (json_valid(`column`)), which is
-- named after its column (MariaDB >= 10.3.10; LEVEL exists only from 10.5.10).
SELECT TABLE_NAME AS table_name,
       CONSTRAINT_NAME AS column_name, CHECK_CLAUSE AS check_clause
FROM information_schema.CHECK_CONSTRAINTS
WHERE CONSTRAINT_SCHEMA = %s AND BINARY CONSTRAINT_SCHEMA = %s;

-- name: partitions
-- One row per partition (per subpartition when there are some) of the partitioned tables.
-- Run only for a schema that has one (CREATE_OPTIONS says "partitioned"): it opens every
-- table of the schema, as the tables query does.
SELECT TABLE_NAME AS table_name, PARTITION_NAME AS name, SUBPARTITION_NAME AS subpartition,
       PARTITION_ORDINAL_POSITION AS position, SUBPARTITION_ORDINAL_POSITION AS sub_position,
       PARTITION_METHOD AS method, SUBPARTITION_METHOD AS sub_method,
       PARTITION_EXPRESSION AS expression, SUBPARTITION_EXPRESSION AS sub_expression,
       PARTITION_DESCRIPTION AS description
FROM information_schema.PARTITIONS
WHERE TABLE_SCHEMA = %s AND BINARY TABLE_SCHEMA = %s AND PARTITION_NAME IS NOT NULL;

-- name: routines
-- Stored procedures and functions; ROUTINE_DEFINITION is the body (the whole CREATE
-- statement would take one SHOW CREATE per routine).
SELECT ROUTINE_NAME AS name, ROUTINE_TYPE AS kind, ROUTINE_BODY AS language,
       DTD_IDENTIFIER AS return_type, IS_DETERMINISTIC AS is_deterministic,
       ROUTINE_DEFINITION AS definition, ROUTINE_COMMENT AS comment, DEFINER AS definer
FROM information_schema.ROUTINES
WHERE ROUTINE_SCHEMA = %s AND BINARY ROUTINE_SCHEMA = %s;

-- name: routine_parameters
-- The routines' parameters; position 0 is a function's return value.
SELECT SPECIFIC_NAME AS routine_name, ROUTINE_TYPE AS kind,
       ORDINAL_POSITION AS ordinal_position, PARAMETER_MODE AS mode,
       PARAMETER_NAME AS name, DTD_IDENTIFIER AS data_type
FROM information_schema.PARAMETERS
WHERE SPECIFIC_SCHEMA = %s AND BINARY SPECIFIC_SCHEMA = %s AND ORDINAL_POSITION > 0;

-- name: probe
-- test-connection: can this schema's catalog be read? No row when it is not visible.
SELECT s.SCHEMA_NAME AS name,
       (SELECT COUNT(*) FROM information_schema.TABLES AS t
        WHERE t.TABLE_SCHEMA = s.SCHEMA_NAME) AS tables
FROM information_schema.SCHEMATA AS s
WHERE s.SCHEMA_NAME = %s;

-- name: relation_columns
-- The columns, in order, of some relations of one schema: what views of another schema
-- read there, for their lineage. The IN list gets one bind marker per relation name.
SELECT TABLE_NAME AS table_name, COLUMN_NAME AS name
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = %s AND BINARY TABLE_SCHEMA = %s AND TABLE_NAME IN ({names})
ORDER BY TABLE_NAME, ORDINAL_POSITION;
