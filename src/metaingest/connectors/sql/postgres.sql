-- Catalog queries for PostgreSQL (pg_catalog, 12 and later). Every value is a bind parameter
-- ($1, ...). The per-schema queries (relations, columns, constraints) each read whole
-- schemas at once, so a schema costs three queries whatever its number of tables; they take
-- an array of schema names, so that several small schemas share one round. Rows are matched
-- to their relation by oid, and relations to their schema by name, in Python. They reach the
-- schemas' rows through indexes only (pg_depend, then oids), so that a schema costs its own
-- size, not the database's.

-- name: databases
SELECT d.datname AS name, pg_catalog.shobj_description(d.oid, 'pg_database') AS description,
       pg_catalog.pg_get_userbyid(d.datdba) AS owner
FROM pg_catalog.pg_database AS d
WHERE d.datallowconn AND NOT d.datistemplate
  AND pg_catalog.has_database_privilege(d.oid, 'CONNECT')
ORDER BY d.datname;

-- name: named_databases
SELECT d.datname AS name, pg_catalog.shobj_description(d.oid, 'pg_database') AS description,
       pg_catalog.pg_get_userbyid(d.datdba) AS owner
FROM pg_catalog.pg_database AS d
WHERE d.datname = ANY($1::text[])
ORDER BY d.datname;

-- name: schemas
-- ``size``: the schema's relations plus their columns (dropped ones too), from one scan of
-- pg_class for the whole database: how much a schema's catalog rows weigh, so that small
-- schemas can be read several to a round of the per-schema queries.
SELECT n.nspname AS name, pg_catalog.obj_description(n.oid, 'pg_namespace') AS description,
       pg_catalog.pg_get_userbyid(n.nspowner) AS owner, COALESCE(r.size, 0) AS size
FROM pg_catalog.pg_namespace AS n
LEFT JOIN (
    SELECT c.relnamespace, count(*) + sum(c.relnatts) AS size
    FROM pg_catalog.pg_class AS c
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
    GROUP BY c.relnamespace
) AS r ON r.relnamespace = n.oid
ORDER BY n.nspname;

-- fragment: schema_relations
-- The relations of the schemas named in $1 (one schema, or a group of small ones read in one
-- round: ``schema_name`` tells whose each is). pg_class has no index on relnamespace alone,
-- but a relation depends on its schema in pg_depend, which is indexed by referenced object:
-- so a schema costs its own size, not the database's. A schema made by initdb (oid below
-- 16384, FirstNormalObjectId) may be pinned, and then has no such rows: pg_class is scanned
-- for it. (As an array: a plain scan here would be sized as the whole pg_class by the
-- planner, which would then plan every join below as a scan too.)
SELECT d.objid AS oid, n.nspname AS schema_name
FROM pg_catalog.pg_namespace AS n
JOIN pg_catalog.pg_depend AS d
    ON d.refclassid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
    AND d.refobjid = n.oid AND d.refobjsubid = 0
    AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.deptype = 'n'
WHERE n.nspname = ANY($1::text[]) AND n.oid >= 16384
UNION ALL
SELECT unnest(ARRAY(
    SELECT c.oid FROM pg_catalog.pg_class AS c WHERE c.relnamespace = n.oid
)), n.nspname
FROM pg_catalog.pg_namespace AS n
WHERE n.nspname = ANY($1::text[]) AND n.oid < 16384

-- name: relations
-- partition_key is pg_get_partkeydef's whole key (``RANGE (a, lower(b))``); partition_columns
-- are its plain-column parts in key order (an expression part has attnum 0 and no column).
WITH rel AS (
    {schema_relations}
)
SELECT
    c.oid AS relid,
    c.relname AS name,
    c.relkind::text AS kind,
    (
        SELECT d.description FROM pg_catalog.pg_description AS d
        WHERE d.objoid = c.oid AND d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
          AND d.objsubid = 0
    ) AS description,
    CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid, true) END
        AS view_definition,
    CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END AS partition_key,
    -- pg_partitioned_table by subqueries, so by its index per relation: joined, it is planned
    -- as a scan per relation while its statistics are stale
    CASE WHEN c.relkind = 'p' THEN (
        SELECT pt.partstrat::text
        FROM pg_catalog.pg_partitioned_table AS pt
        WHERE pt.partrelid = c.oid
    ) END AS partition_strategy,
    ARRAY(
        SELECT a.attname
        FROM pg_catalog.pg_partitioned_table AS pt
        CROSS JOIN unnest(pt.partattrs::int2[]) WITH ORDINALITY AS k (attnum, ord)
        JOIN pg_catalog.pg_attribute AS a ON a.attrelid = c.oid AND a.attnum = k.attnum
        WHERE c.relkind = 'p' AND pt.partrelid = c.oid
        ORDER BY k.ord
    ) AS partition_columns,
    CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END
        AS partition_bound,
    -- a schema's name by oid through the catalog cache: a join to pg_namespace is planned as a
    -- scan of it per row while its statistics are stale (right after many schemas are made)
    CASE WHEN parent.oid IS NOT NULL THEN (pg_catalog.pg_identify_object_as_address(
        'pg_catalog.pg_namespace'::pg_catalog.regclass, parent.relnamespace, 0
    )).object_names[1] END AS parent_schema,
    parent.relname AS parent_name,
    -- owner and size: the catalog's statistics (reltuples is -1 until the first VACUUM or
    -- ANALYZE: then neither is known); the size counts the table, its TOAST table and its
    -- indexes, in pages of block_size bytes, as of that last VACUUM or ANALYZE
    pg_catalog.pg_get_userbyid(c.relowner) AS owner,
    CASE WHEN c.relkind IN ('r', 'm') AND c.reltuples >= 0 THEN c.reltuples::bigint END
        AS row_estimate,
    CASE WHEN c.relkind IN ('r', 'm') AND c.reltuples >= 0 THEN (
        c.relpages::bigint
        + COALESCE((SELECT t.relpages FROM pg_catalog.pg_class AS t WHERE t.oid = c.reltoastrelid), 0)
        + COALESCE((
            SELECT sum(ic.relpages) FROM pg_catalog.pg_index AS x
            JOIN pg_catalog.pg_class AS ic ON ic.oid = x.indexrelid
            WHERE x.indrelid = c.oid
        ), 0)
    ) * pg_catalog.current_setting('block_size')::bigint END AS size_bytes,
    rel.schema_name
FROM rel
JOIN pg_catalog.pg_class AS c ON c.oid = rel.oid
LEFT JOIN pg_catalog.pg_inherits AS i ON c.relispartition AND i.inhrelid = c.oid
LEFT JOIN pg_catalog.pg_class AS parent ON parent.oid = i.inhparent
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
ORDER BY c.relname;

-- name: columns
-- A domain is resolved to its innermost base type (a domain may sit on a domain): that base
-- type classifies the column, while ``display`` keeps the domain's name. An array's element
-- type is resolved the same way; typmod is the column's, else the (element) domain's.
-- Rows come in attnum order per relation, live columns only: the connector numbers them 1..n
-- (ordinal_position; a dropped column leaves no gap). Per-column work is what each column
-- needs: type names are formatted once per type used; a default, generated expression or
-- comment is looked up by index for that column only (scalar subqueries, not the functions
-- col_description/obj_description, whose per-call overhead was a third of this query).
WITH RECURSIVE rel AS (
    {schema_relations}
),
att AS MATERIALIZED (
    -- everything read per column, by index from the schema's relations
    SELECT a.attrelid, a.attname, a.attnum, a.atttypid, a.atttypmod, a.attnotnull,
           a.attidentity, a.attgenerated, a.atthasdef
    FROM rel
    JOIN pg_catalog.pg_class AS c ON c.oid = rel.oid
    JOIN pg_catalog.pg_attribute AS a ON a.attrelid = c.oid
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped
),
-- every type the columns' types lead to through domain bases and array elements, read from
-- pg_type by oid: the domain chains below are followed within these, not in all of pg_type
used_type AS (
    SELECT t.oid, t.typtype, t.typcategory, t.typbasetype, t.typelem, t.typtypmod, t.typnotnull
    FROM pg_catalog.pg_type AS t
    WHERE t.oid = ANY (ARRAY(SELECT DISTINCT a.atttypid FROM att AS a))
  UNION
    SELECT t.oid, t.typtype, t.typcategory, t.typbasetype, t.typelem, t.typtypmod, t.typnotnull
    FROM used_type AS u
    JOIN pg_catalog.pg_type AS t ON t.oid IN (u.typbasetype, u.typelem)
),
named_type AS MATERIALIZED (
    SELECT u.*, pg_catalog.format_type(u.oid, NULL) AS type_name FROM used_type AS u
),
domain_chain AS (
    SELECT u.oid AS domain_oid, u.typbasetype AS base_oid, u.typtypmod AS typmod,
           u.typnotnull AS not_null
    FROM named_type AS u
    WHERE u.typtype = 'd'
  UNION ALL
    SELECT d.domain_oid, t.typbasetype,
           CASE WHEN d.typmod >= 0 THEN d.typmod ELSE t.typtypmod END,
           d.not_null OR t.typnotnull
    FROM domain_chain AS d
    JOIN named_type AS t ON t.oid = d.base_oid AND t.typtype = 'd'
),
domain_base AS (
    SELECT d.*
    FROM domain_chain AS d
    JOIN named_type AS t ON t.oid = d.base_oid AND t.typtype <> 'd'
)
SELECT
    a.attrelid AS relid,
    a.attname AS name,
    pg_catalog.format_type(a.atttypid, a.atttypmod) AS display,
    bt.type_name AS base_type,
    bt.typtype::text AS base_kind,
    et.type_name AS element_type,
    et.typtype::text AS element_kind,
    CASE WHEN a.atttypmod >= 0 THEN a.atttypmod ELSE COALESCE(db.typmod, edb.typmod, -1) END
        AS typmod,
    a.attnotnull OR COALESCE(db.not_null, false) AS not_null,
    CASE WHEN a.atthasdef AND a.attgenerated = '' THEN (
        SELECT pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) FROM pg_catalog.pg_attrdef AS ad
        WHERE ad.adrelid = a.attrelid AND ad.adnum = a.attnum
    ) END AS default_value,
    CASE WHEN a.atthasdef AND a.attgenerated <> '' THEN (
        SELECT pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) FROM pg_catalog.pg_attrdef AS ad
        WHERE ad.adrelid = a.attrelid AND ad.adnum = a.attnum
    ) END AS generated,
    a.attidentity::text AS identity,
    (SELECT d.description FROM pg_catalog.pg_description AS d
     WHERE d.objoid = a.attrelid AND d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
       AND d.objsubid = a.attnum) AS description
FROM att AS a
LEFT JOIN domain_base AS db ON db.domain_oid = a.atttypid
JOIN named_type AS bt ON bt.oid = COALESCE(db.base_oid, a.atttypid)
LEFT JOIN domain_base AS edb ON bt.typcategory = 'A' AND edb.domain_oid = bt.typelem
LEFT JOIN named_type AS et ON bt.typcategory = 'A' AND et.oid = COALESCE(edb.base_oid, bt.typelem)
ORDER BY a.attrelid, a.attnum;

-- name: constraints
-- A foreign key to a partitioned table has a clone per partition of that table, on the same
-- relation and with the key as parent: those are skipped. Clones a partition inherits from its
-- partitioned parent sit on the partition itself, so they are kept. Key columns are named
-- by an index lookup per key column.
-- The second part lists the valid unique indexes that back no constraint (kind 'i'): a key
-- part on an expression has no column name (NULL) and its text in ``expressions``;
-- ``predicate`` is a partial index's WHERE clause.
WITH rel AS (
    {schema_relations}
)
SELECT * FROM (
SELECT
    con.conrelid AS relid,
    con.conname AS name,
    con.contype::text AS kind,
    ARRAY(
        SELECT (
            SELECT a.attname FROM pg_catalog.pg_attribute AS a
            WHERE a.attrelid = con.conrelid AND a.attnum = k.attnum
        )
        FROM unnest(con.conkey) WITH ORDINALITY AS k (attnum, ord)
        ORDER BY k.ord
    ) AS columns,
    -- the schema's name as parent_schema in relations
    CASE WHEN ref.oid IS NOT NULL THEN (pg_catalog.pg_identify_object_as_address(
        'pg_catalog.pg_namespace'::pg_catalog.regclass, ref.relnamespace, 0
    )).object_names[1] END AS referred_schema,
    ref.relname AS referred_table,
    ARRAY(
        SELECT (
            SELECT a.attname FROM pg_catalog.pg_attribute AS a
            WHERE a.attrelid = con.confrelid AND a.attnum = k.attnum
        )
        FROM unnest(con.confkey) WITH ORDINALITY AS k (attnum, ord)
        ORDER BY k.ord
    ) AS referred_columns,
    NULL::text[] AS expressions,
    NULL::text AS predicate
FROM rel
JOIN pg_catalog.pg_class AS c ON c.oid = rel.oid
JOIN pg_catalog.pg_constraint AS con ON con.conrelid = c.oid
LEFT JOIN pg_catalog.pg_class AS ref ON con.contype = 'f' AND ref.oid = con.confrelid
WHERE con.contype IN ('p', 'u', 'f')
  AND NOT EXISTS (
      SELECT 1 FROM pg_catalog.pg_constraint AS up
      WHERE up.oid = con.conparentid AND up.conrelid = con.conrelid
  )
UNION ALL
SELECT
    i.indrelid,
    ic.relname,
    'i',
    ARRAY(
        SELECT (
            SELECT a.attname FROM pg_catalog.pg_attribute AS a
            WHERE a.attrelid = i.indrelid AND a.attnum = k.attnum AND k.attnum > 0
        )
        FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k (attnum, ord)
        WHERE k.ord <= i.indnkeyatts
        ORDER BY k.ord
    ),
    NULL,
    NULL,
    NULL,
    ARRAY(
        SELECT pg_catalog.pg_get_indexdef(i.indexrelid, k.ord::int, true)
        FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k (attnum, ord)
        WHERE k.ord <= i.indnkeyatts AND k.attnum = 0
        ORDER BY k.ord
    ),
    pg_catalog.pg_get_expr(i.indpred, i.indrelid, true)
FROM pg_catalog.pg_index AS i
JOIN pg_catalog.pg_class AS ic ON ic.oid = i.indexrelid
-- by pg_index's index on indrelid (joined, the rows of a group of schemas are estimated
-- high enough to plan a scan of all of pg_index)
WHERE i.indrelid = ANY (ARRAY(SELECT r.oid FROM rel AS r))
  AND i.indisunique AND i.indisvalid
  AND NOT EXISTS (
      SELECT 1 FROM pg_catalog.pg_constraint AS con
      WHERE con.conrelid = i.indrelid AND con.conindid = i.indexrelid
        AND con.contype IN ('p', 'u', 'x')
  )
) AS constraints
ORDER BY relid, CASE kind WHEN 'p' THEN 0 WHEN 'u' THEN 1 WHEN 'i' THEN 1 ELSE 2 END, name;

-- name: routines
-- The schemas' functions and procedures (not aggregates or window functions), reached as
-- relations are, through their dependency on the schema; not those an extension owns.
-- One query whatever the number of routines: each routine's texts come from its own oid.
WITH proc AS (
    SELECT d.objid AS oid, n.nspname AS schema_name
    FROM pg_catalog.pg_namespace AS n
    JOIN pg_catalog.pg_depend AS d
        ON d.refclassid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
        AND d.refobjid = n.oid AND d.refobjsubid = 0
        AND d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.deptype = 'n'
    WHERE n.nspname = ANY($1::text[]) AND n.oid >= 16384
    UNION ALL
    SELECT unnest(ARRAY(
        SELECT p.oid FROM pg_catalog.pg_proc AS p WHERE p.pronamespace = n.oid
    )), n.nspname
    FROM pg_catalog.pg_namespace AS n
    WHERE n.nspname = ANY($1::text[]) AND n.oid < 16384
)
SELECT
    p.proname AS name,
    -- the input argument types, which tell overloads apart (what regprocedure prints)
    pg_catalog.oidvectortypes(p.proargtypes) AS argument_types,
    p.prokind::text AS kind,
    (SELECT l.lanname FROM pg_catalog.pg_language AS l WHERE l.oid = p.prolang) AS language,
    pg_catalog.pg_get_function_arguments(p.oid) AS arguments,
    CASE WHEN p.prokind = 'f' THEN pg_catalog.pg_get_function_result(p.oid) END AS return_type,
    p.provolatile::text AS volatility,
    pg_catalog.pg_get_functiondef(p.oid) AS definition,
    (SELECT d.description FROM pg_catalog.pg_description AS d
     WHERE d.objoid = p.oid AND d.classoid = 'pg_catalog.pg_proc'::pg_catalog.regclass
       AND d.objsubid = 0) AS description,
    pg_catalog.pg_get_userbyid(p.proowner) AS owner,
    proc.schema_name
FROM proc
JOIN pg_catalog.pg_proc AS p ON p.oid = proc.oid
WHERE p.prokind IN ('f', 'p')
  AND NOT EXISTS (
      SELECT 1 FROM pg_catalog.pg_depend AS e
      WHERE e.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND e.objid = p.oid
        AND e.objsubid = 0 AND e.deptype = 'e'
  )
ORDER BY p.proname, argument_types;

-- name: server_version
SHOW server_version;

-- name: probe
-- test-connection: can this schema's catalog be read? NULL when the schema is not there.
SELECT (SELECT count(*) FROM pg_catalog.pg_class AS c WHERE c.relnamespace = n.oid) AS relations
FROM pg_catalog.pg_namespace AS n
WHERE n.nspname = $1;

-- name: view_dependencies
-- What each view and materialized view of the schema reads, as the server records it: the
-- dependencies of its rewrite rule on relations (ref_column NULL) and on their columns
-- (refobjsubid > 0), across schemas. A view's rule also depends on the view itself: left out.
-- A relation outside the view's schema comes with all its columns (ref_columns, on one of
-- its rows per schema), which lineage needs (a `*`, an unqualified name), so that no query
-- per schema asks for them. (A view's rule records the columns it reads, and the relation
-- itself only when it reads none of them: there is no one row per relation to put them on.)
WITH rel AS (
    {schema_relations}
)
SELECT v.relname AS view_name, rn.nspname AS ref_schema, r.relname AS ref_name,
    a.attname AS ref_column, rel.schema_name,
    CASE WHEN rn.nspname <> rel.schema_name AND row_number() OVER (
        PARTITION BY rel.schema_name, r.oid ORDER BY v.relname, d.refobjsubid
    ) = 1 THEN ARRAY(
        SELECT ra.attname::text FROM pg_catalog.pg_attribute AS ra
        WHERE ra.attrelid = r.oid AND ra.attnum > 0 AND NOT ra.attisdropped
        ORDER BY ra.attnum
    ) END AS ref_columns
FROM rel
JOIN pg_catalog.pg_class AS v ON v.oid = rel.oid AND v.relkind IN ('v', 'm')
JOIN pg_catalog.pg_rewrite AS rw
    ON rw.ev_class = v.oid AND rw.ev_class = ANY (ARRAY(SELECT r.oid FROM rel AS r))
JOIN pg_catalog.pg_depend AS d
    ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = rw.oid
    AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid <> v.oid
JOIN pg_catalog.pg_class AS r ON r.oid = d.refobjid
JOIN pg_catalog.pg_namespace AS rn ON rn.oid = r.relnamespace
LEFT JOIN pg_catalog.pg_attribute AS a
    ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid AND d.refobjsubid > 0
ORDER BY 1, 2, 3, 4;

-- name: relation_columns
-- The columns, in order, of relations named by (schema, name) pairs: what views of a schema
-- read outside it, for their lineage. One query for all of them.
SELECT n.nspname AS schema_name, c.relname AS name, a.attname AS column_name
FROM unnest($1::text[], $2::text[]) AS k(nspname, relname)
JOIN pg_catalog.pg_namespace AS n ON n.nspname = k.nspname
JOIN pg_catalog.pg_class AS c ON c.relnamespace = n.oid AND c.relname = k.relname
JOIN pg_catalog.pg_attribute AS a
    ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY 1, 2, a.attnum;
