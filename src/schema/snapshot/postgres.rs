//! PostgreSQL: six pg_catalog queries per snapshot, whatever the number of tables.
//!
//! pg_catalog rather than information_schema: the latter hides objects the connected role does
//! not own, has no enums, indexes or sequence ownership, and is several times slower.

use sqlx::PgConnection;

use super::{
    CheckConstraint, Column, ForeignKey, Index, PrimaryKey, SchemaSnapshot, Sequence,
    UniqueConstraint,
};
use crate::engine::Engine;
use crate::schema::error::{Result, SchemaError};
use crate::schema::sqltext::{collapse_ws, is_pg_generated_name, strip_literal_cast};

// `relkind IN ('r', 'p')`: ordinary and partitioned tables. NOT NULL constraints
// (contype 'n', PostgreSQL 17+) are never read as constraints: their names are system-chosen
// and `attnotnull` already says everything about nullability.
const COLUMNS: &str = "
SELECT c.relname::text, a.attname::text, a.attnum::int4,
       format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, a.attgenerated::text
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')
ORDER BY 1, 3";

const CONSTRAINTS: &str = "
SELECT c.relname::text, con.conname::text, con.contype::text,
       ARRAY(SELECT a.attname::text
             FROM unnest(con.conkey) WITH ORDINALITY AS k(num, pos)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num
             ORDER BY k.pos),
       (SELECT CASE WHEN fn.nspname = $1 THEN fc.relname::text
                    ELSE fn.nspname::text || '.' || fc.relname::text END
        FROM pg_class fc JOIN pg_namespace fn ON fn.oid = fc.relnamespace
        WHERE fc.oid = con.confrelid),
       ARRAY(SELECT a.attname::text
             FROM unnest(con.confkey) WITH ORDINALITY AS k(num, pos)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num
             ORDER BY k.pos),
       con.confupdtype::text, con.confdeltype::text,
       CASE WHEN con.contype IN ('c', 'x') THEN pg_get_constraintdef(con.oid, true) END
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND con.contype IN ('p', 'u', 'f', 'c', 'x')
ORDER BY 1, 2";

// Indexes that implement a PRIMARY KEY, UNIQUE or EXCLUDE constraint are left out: the
// constraint already stands for them, and their names are the constraint's.
// indoption bit 1 is DESC, bit 2 NULLS FIRST; only non-default combinations are spelled out.
const INDEXES: &str = "
SELECT t.relname::text, i.relname::text, ix.indisunique, am.amname::text,
       ARRAY(SELECT pg_get_indexdef(ix.indexrelid, k, true)
                    || CASE (ix.indoption[k - 1]::int & 3)
                         WHEN 1 THEN ' DESC NULLS LAST' WHEN 3 THEN ' DESC'
                         WHEN 2 THEN ' NULLS FIRST' ELSE '' END
             FROM generate_series(1, ix.indnkeyatts::int) AS k
             ORDER BY k),
       pg_get_expr(ix.indpred, ix.indrelid, true)
FROM pg_index ix
JOIN pg_class i ON i.oid = ix.indexrelid
JOIN pg_class t ON t.oid = ix.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_am am ON am.oid = i.relam
WHERE n.nspname = $1 AND t.relkind IN ('r', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_constraint con
                  WHERE con.conindid = ix.indexrelid AND con.contype IN ('p', 'u', 'x'))
ORDER BY 1, 2";

const VIEWS: &str = "
SELECT c.relname::text, c.relkind::text, pg_get_viewdef(c.oid, true)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('v', 'm')";

// Sequences owned by a column (serial, identity, OWNED BY) are left out: they come and go
// with their column, whose default or identity already names them.
const SEQUENCES: &str = "
SELECT c.relname::text, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement,
       s.seqmin, s.seqmax, s.seqcycle
FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                    AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))";

const ENUMS: &str = "
SELECT t.typname::text, e.enumlabel::text
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
LEFT JOIN pg_enum e ON e.enumtypid = t.oid
WHERE n.nspname = $1 AND t.typtype = 'e'
ORDER BY t.typname, e.enumsortorder";

type ColumnRow = (
    String,
    Option<String>,
    Option<i32>,
    Option<String>,
    Option<bool>,
    Option<String>,
    Option<String>,
    Option<String>,
);
type ConstraintRow = (
    String,
    String,
    String,
    Vec<String>,
    Option<String>,
    Vec<String>,
    String,
    String,
    Option<String>,
);
type IndexRow = (String, String, bool, String, Vec<String>, Option<String>);
type SequenceRow = (String, String, i64, i64, i64, i64, bool);

/// Snapshots one PostgreSQL schema (usually `public`). Tables named in `ignore` (see
/// [`DEFAULT_IGNORE`](super::DEFAULT_IGNORE)) and views with those names are left out.
pub async fn snapshot_postgres(
    conn: &mut PgConnection,
    schema: &str,
    ignore: &[&str],
) -> Result<SchemaSnapshot> {
    let db = format!("postgres schema {schema}");
    let mut snapshot = SchemaSnapshot::new(Engine::Postgres);
    let ignored = |name: &str| ignore.contains(&name);

    let columns: Vec<ColumnRow> = sqlx::query_as(COLUMNS)
        .bind(schema)
        .fetch_all(&mut *conn)
        .await
        .map_err(SchemaError::query("columns", &db))?;
    for (table, name, ordinal, data_type, not_null, default, identity, generated) in columns {
        if ignored(&table) {
            continue;
        }
        let entry = snapshot.tables.entry(table).or_default();
        let (Some(name), Some(data_type)) = (name, data_type) else {
            continue; // a table without columns: legal in PostgreSQL
        };
        let default = default.map(|d| strip_literal_cast(&collapse_ws(&d)));
        let (default, extra) = match (identity.as_deref(), generated.as_deref()) {
            (_, Some("s")) => (
                None,
                Some(format!(
                    "generated always as ({}) stored",
                    default.unwrap_or_default()
                )),
            ),
            (Some("a"), _) => (default, Some("generated always as identity".to_owned())),
            (Some("d"), _) => (default, Some("generated by default as identity".to_owned())),
            _ => (default, None),
        };
        entry.columns.insert(
            name,
            Column {
                data_type,
                nullable: !not_null.unwrap_or(false),
                default,
                extra,
                ordinal: ordinal.unwrap_or(0).max(0) as u32,
            },
        );
    }

    let constraints: Vec<ConstraintRow> = sqlx::query_as(CONSTRAINTS)
        .bind(schema)
        .fetch_all(&mut *conn)
        .await
        .map_err(SchemaError::query("constraints", &db))?;
    for (table_name, name, kind, columns, referred, referred_columns, upd, del, def) in constraints
    {
        let Some(table) = snapshot.tables.get_mut(&table_name) else {
            continue;
        };
        let def = def.unwrap_or_default();
        let user_name = |suffix: &str| {
            (!is_pg_generated_name(&name, &table_name, suffix)).then(|| name.clone())
        };
        match kind.as_str() {
            "p" => {
                table.primary_key = Some(PrimaryKey {
                    name: user_name("pkey"),
                    columns,
                })
            }
            "u" => table.add_unique(UniqueConstraint {
                name: user_name("key"),
                columns,
            }),
            "f" => table.add_foreign_key(ForeignKey {
                name: user_name("fkey"),
                columns,
                referred_table: referred.unwrap_or_default(),
                referred_columns,
                on_delete: fk_action(&del),
                on_update: fk_action(&upd),
            }),
            "c" => table.add_check(CheckConstraint {
                name: user_name("check"),
                expression: collapse_ws(def.strip_prefix("CHECK ").unwrap_or(&def)),
            }),
            // Exclusion constraints have no better home; their definition starts with
            // EXCLUDE, so they read unambiguously among the checks.
            _ => table.add_check(CheckConstraint {
                name: user_name("excl"),
                expression: collapse_ws(&def),
            }),
        }
    }

    let indexes: Vec<IndexRow> = sqlx::query_as(INDEXES)
        .bind(schema)
        .fetch_all(&mut *conn)
        .await
        .map_err(SchemaError::query("indexes", &db))?;
    for (table_name, name, unique, method, columns, predicate) in indexes {
        let Some(table) = snapshot.tables.get_mut(&table_name) else {
            continue;
        };
        table.add_index(Index {
            name: (!is_pg_generated_name(&name, &table_name, "idx")).then_some(name),
            columns,
            unique,
            method: (method != "btree").then_some(method),
            predicate: predicate.map(|p| collapse_ws(&p)),
        });
    }

    let views: Vec<(String, String, Option<String>)> = sqlx::query_as(VIEWS)
        .bind(schema)
        .fetch_all(&mut *conn)
        .await
        .map_err(SchemaError::query("views", &db))?;
    for (name, kind, definition) in views {
        if ignored(&name) {
            continue;
        }
        let definition = collapse_ws(&definition.unwrap_or_default());
        let definition = if kind == "m" {
            format!("materialized: {definition}")
        } else {
            definition
        };
        snapshot.views.insert(name, definition);
    }

    let sequences: Vec<SequenceRow> = sqlx::query_as(SEQUENCES)
        .bind(schema)
        .fetch_all(&mut *conn)
        .await
        .map_err(SchemaError::query("sequences", &db))?;
    for (name, data_type, start, increment, min_value, max_value, cycle) in sequences {
        snapshot.sequences.insert(
            name,
            Sequence {
                data_type,
                start,
                increment,
                min_value,
                max_value,
                cycle,
            },
        );
    }

    let enums: Vec<(String, Option<String>)> = sqlx::query_as(ENUMS)
        .bind(schema)
        .fetch_all(&mut *conn)
        .await
        .map_err(SchemaError::query("enum types", &db))?;
    for (name, label) in enums {
        let labels = snapshot.enums.entry(name).or_default();
        labels.extend(label);
    }

    Ok(snapshot)
}

fn fk_action(code: &str) -> String {
    match code {
        "r" => "RESTRICT",
        "c" => "CASCADE",
        "n" => "SET NULL",
        "d" => "SET DEFAULT",
        _ => "NO ACTION",
    }
    .to_owned()
}
