-- Catalog queries for PostgreSQL (pg_catalog, 12 and later). Every value is a bind parameter
-- ($1, ...). The per-schema queries (relations, columns, constraints) each read the whole
-- schema at once, so a schema costs three queries whatever its number of tables; rows are
-- matched to their relation by oid in Python.

-- name: databases
SELECT d.datname AS name, pg_catalog.shobj_description(d.oid, 'pg_database') AS description
FROM pg_catalog.pg_database AS d
WHERE d.datallowconn AND NOT d.datistemplate
  AND pg_catalog.has_database_privilege(d.oid, 'CONNECT')
ORDER BY d.datname;

-- name: named_databases
SELECT d.datname AS name, pg_catalog.shobj_description(d.oid, 'pg_database') AS description
FROM pg_catalog.pg_database AS d
WHERE d.datname = ANY($1::text[])
ORDER BY d.datname;

-- name: schemas
SELECT n.nspname AS name, pg_catalog.obj_description(n.oid, 'pg_namespace') AS description
FROM pg_catalog.pg_namespace AS n
ORDER BY n.nspname;

-- name: relations
-- partition_key is pg_get_partkeydef's whole key (``RANGE (a, lower(b))``); partition_columns
-- are its plain-column parts in key order (an expression part has attnum 0 and no column).
SELECT
    c.oid AS relid,
    c.relname AS name,
    c.relkind::text AS kind,
    pg_catalog.obj_description(c.oid, 'pg_class') AS description,
    CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid, true) END
        AS view_definition,
    CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END AS partition_key,
    pt.partstrat::text AS partition_strategy,
    ARRAY(
        SELECT a.attname
        FROM unnest(pt.partattrs::int2[]) WITH ORDINALITY AS k (attnum, ord)
        JOIN pg_catalog.pg_attribute AS a ON a.attrelid = c.oid AND a.attnum = k.attnum
        ORDER BY k.ord
    ) AS partition_columns,
    CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END
        AS partition_bound,
    parent_ns.nspname AS parent_schema,
    parent.relname AS parent_name
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_partitioned_table AS pt ON pt.partrelid = c.oid
LEFT JOIN pg_catalog.pg_inherits AS i ON c.relispartition AND i.inhrelid = c.oid
LEFT JOIN pg_catalog.pg_class AS parent ON parent.oid = i.inhparent
LEFT JOIN pg_catalog.pg_namespace AS parent_ns ON parent_ns.oid = parent.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
ORDER BY c.relname;

-- name: columns
-- A domain is resolved to its innermost base type (a domain may sit on a domain): that base
-- type classifies the column, while ``display`` keeps the domain's name. An array's element
-- type is resolved the same way; typmod is the column's, else the (element) domain's.
WITH RECURSIVE domain_chain AS (
    SELECT t.oid AS domain_oid, t.typbasetype AS base_oid, t.typtypmod AS typmod,
           t.typnotnull AS not_null
    FROM pg_catalog.pg_type AS t
    WHERE t.typtype = 'd'
  UNION ALL
    SELECT d.domain_oid, t.typbasetype,
           CASE WHEN d.typmod >= 0 THEN d.typmod ELSE t.typtypmod END,
           d.not_null OR t.typnotnull
    FROM domain_chain AS d
    JOIN pg_catalog.pg_type AS t ON t.oid = d.base_oid AND t.typtype = 'd'
),
domain_base AS (
    SELECT d.*
    FROM domain_chain AS d
    JOIN pg_catalog.pg_type AS t ON t.oid = d.base_oid AND t.typtype <> 'd'
)
SELECT
    a.attrelid AS relid,
    a.attname AS name,
    a.attnum AS position,
    pg_catalog.format_type(a.atttypid, a.atttypmod) AS display,
    pg_catalog.format_type(bt.oid, NULL) AS base_type,
    bt.typtype::text AS base_kind,
    pg_catalog.format_type(et.oid, NULL) AS element_type,
    et.typtype::text AS element_kind,
    CASE WHEN a.atttypmod >= 0 THEN a.atttypmod ELSE COALESCE(db.typmod, edb.typmod, -1) END
        AS typmod,
    a.attnotnull OR COALESCE(db.not_null, false) AS not_null,
    CASE WHEN a.attgenerated = '' THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) END
        AS default_value,
    CASE WHEN a.attgenerated <> '' THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) END
        AS generated,
    a.attidentity::text AS identity,
    pg_catalog.col_description(a.attrelid, a.attnum) AS description
FROM pg_catalog.pg_attribute AS a
JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
LEFT JOIN domain_base AS db ON db.domain_oid = a.atttypid
JOIN pg_catalog.pg_type AS bt ON bt.oid = COALESCE(db.base_oid, a.atttypid)
LEFT JOIN domain_base AS edb ON bt.typcategory = 'A' AND edb.domain_oid = bt.typelem
LEFT JOIN pg_catalog.pg_type AS et
    ON bt.typcategory = 'A' AND et.oid = COALESCE(edb.base_oid, bt.typelem)
LEFT JOIN pg_catalog.pg_attrdef AS ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum;

-- name: constraints
-- A foreign key to a partitioned table has a clone per partition of that table, on the same
-- relation and with the key as parent: those are skipped. Clones a partition inherits from its
-- partitioned parent sit on the partition itself, so they are kept.
SELECT
    con.conrelid AS relid,
    con.conname AS name,
    con.contype::text AS kind,
    ARRAY(
        SELECT a.attname
        FROM unnest(con.conkey) WITH ORDINALITY AS k (attnum, ord)
        JOIN pg_catalog.pg_attribute AS a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
        ORDER BY k.ord
    ) AS columns,
    ref_ns.nspname AS referred_schema,
    ref.relname AS referred_table,
    ARRAY(
        SELECT a.attname
        FROM unnest(con.confkey) WITH ORDINALITY AS k (attnum, ord)
        JOIN pg_catalog.pg_attribute AS a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
        ORDER BY k.ord
    ) AS referred_columns
FROM pg_catalog.pg_constraint AS con
JOIN pg_catalog.pg_class AS c ON c.oid = con.conrelid
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_class AS ref ON con.contype = 'f' AND ref.oid = con.confrelid
LEFT JOIN pg_catalog.pg_namespace AS ref_ns ON ref_ns.oid = ref.relnamespace
WHERE n.nspname = $1 AND con.contype IN ('p', 'u', 'f')
  AND NOT EXISTS (
      SELECT 1 FROM pg_catalog.pg_constraint AS up
      WHERE up.oid = con.conparentid AND up.conrelid = con.conrelid
  )
ORDER BY con.conrelid, CASE con.contype WHEN 'p' THEN 0 WHEN 'u' THEN 1 ELSE 2 END, con.conname;

-- name: server_version
SHOW server_version;

-- name: probe
-- test-connection: can this schema's catalog be read? NULL when the schema is not there.
SELECT (SELECT count(*) FROM pg_catalog.pg_class AS c WHERE c.relnamespace = n.oid) AS relations
FROM pg_catalog.pg_namespace AS n
WHERE n.nspname = $1;
