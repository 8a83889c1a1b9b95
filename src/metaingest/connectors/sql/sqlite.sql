-- Catalog queries for one SQLite schema. {schema} is replaced by the schema name quoted by
-- SQLAlchemy's SQLite identifier preparer; every other value is a bind parameter (?).

-- name: objects
SELECT name, type, sql
FROM {schema}.sqlite_master
WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\_%' ESCAPE '\'
ORDER BY name;

-- name: columns
SELECT m.name AS table_name, p.cid, p.name, p.type, p."notnull", p.dflt_value, p.pk, p.hidden
FROM {schema}.sqlite_master AS m
JOIN pragma_table_xinfo(m.name, ?) AS p
WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\' {only}
ORDER BY m.name, p.cid;

-- name: foreign_keys
SELECT m.name AS table_name, f.id, f.seq, f."table", f."from", f."to"
FROM {schema}.sqlite_master AS m
JOIN pragma_foreign_key_list(m.name, ?) AS f
WHERE m.type = 'table'
ORDER BY m.name, f.id, f.seq;

-- name: unique_indexes
-- Every unique index: origin 'pk' (a primary key that is not the rowid), 'u' (a UNIQUE
-- constraint) or 'c' (CREATE UNIQUE INDEX, whose statement holds expressions and predicate).
SELECT m.name AS table_name, il.name AS index_name, ii.seqno, ii.name AS column_name,
       il.origin, il.partial, ix.sql
FROM {schema}.sqlite_master AS m
JOIN pragma_index_list(m.name, ?) AS il
JOIN pragma_index_info(il.name, ?) AS ii
LEFT JOIN {schema}.sqlite_master AS ix ON ix.type = 'index' AND ix.name = il.name
WHERE m.type = 'table' AND il."unique" = 1
ORDER BY m.name, il.name, ii.seqno;

-- name: probe
-- test-connection: can this schema's catalog be read?
SELECT count(*) FROM {schema}.sqlite_master;
