//! Seeding SQLite: row by row, values bound with their storage class.

use sqlx::{
    AssertSqlSafe, Connection as _, Row as _, SqliteConnection, TypeInfo as _, ValueRef as _,
};

use super::{Backend, Failure, expect_engine, run, select_sql, transaction};
use crate::engine::Engine;
use crate::schema::{SchemaSnapshot, Table};
use crate::seed::error::Result;
use crate::seed::{Row, SeedPlan, SeedReport, TablePlan, Value};

/// Inserts a plan into SQLite: one transaction, row by row (statements are in-process and
/// SQLite has no `DEFAULT` in VALUES lists), `RETURNING` the generated keys.
pub async fn seed_sqlite(
    conn: &mut SqliteConnection,
    snapshot: &SchemaSnapshot,
    plan: &SeedPlan,
) -> Result<SeedReport> {
    expect_engine::<Lite>(snapshot)?;
    let mut tx = conn
        .begin()
        .await
        .map_err(transaction::<Lite>("beginning the seeding transaction"))?;
    let report = run(&mut Lite { conn: &mut tx }, snapshot, plan).await?;
    tx.commit()
        .await
        .map_err(transaction::<Lite>("committing the seeded rows"))?;
    Ok(report)
}

struct Lite<'c> {
    conn: &'c mut SqliteConnection,
}

type LiteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>;

fn lite_bind<'q>(query: LiteQuery<'q>, value: &Value) -> LiteQuery<'q> {
    match value {
        Value::Null | Value::Ref(_) => query.bind(None::<String>),
        Value::Int(i) => query.bind(*i),
        Value::Float(f) => query.bind(*f),
        Value::Text(s) => query.bind(s.clone()),
        Value::Decimal(s) => match s.parse::<f64>() {
            Ok(f) => query.bind(f),
            Err(_) => query.bind(s.clone()),
        },
        Value::Bool(b) => query.bind(i64::from(*b)),
        Value::Json(j) => query.bind(j.to_string()),
        Value::Bytes(b) => query.bind(b.clone()),
    }
}

/// SQLite rows as values, column by column in `columns`' order.
fn lite_rows(
    rows: &[sqlx::sqlite::SqliteRow],
    columns: &[String],
) -> Result<Vec<Row>, sqlx::Error> {
    rows.iter()
        .map(|r| {
            (columns.iter().enumerate())
                .map(|(i, column)| Ok((column.clone(), lite_value(r, i)?)))
                .collect()
        })
        .collect()
}

fn lite_value(row: &sqlx::sqlite::SqliteRow, i: usize) -> Result<Value, sqlx::Error> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let storage = raw.type_info().name().to_owned();
    Ok(match storage.as_str() {
        "INTEGER" => Value::Int(row.try_get(i)?),
        "REAL" => Value::Float(row.try_get(i)?),
        "BLOB" => Value::Bytes(row.try_get(i)?),
        _ => Value::Text(row.try_get(i)?),
    })
}

impl Backend for Lite<'_> {
    const ENGINE: Engine = Engine::Sqlite;

    fn batches(&self, _table_plan: &TablePlan, _info: Option<&Table>) -> bool {
        false
    }

    async fn insert(
        &mut self,
        table: &str,
        _info: Option<&Table>,
        columns: &[&str],
        rows: &[&Row],
        returning: &[String],
    ) -> Result<Vec<Row>, Failure> {
        let Some(row) = rows.first() else {
            return Ok(Vec::new());
        };
        let mut sql = format!("INSERT INTO {}", Engine::Sqlite.quote_ident(table));
        if columns.is_empty() {
            sql.push_str(" DEFAULT VALUES");
        } else {
            let names: Vec<String> = columns
                .iter()
                .map(|c| Engine::Sqlite.quote_ident(c))
                .collect();
            let marks = vec!["?"; columns.len()].join(", ");
            sql.push_str(&format!(" ({}) VALUES ({marks})", names.join(", ")));
        }
        if !returning.is_empty() {
            let list: Vec<String> = returning
                .iter()
                .map(|c| Engine::Sqlite.quote_ident(c))
                .collect();
            sql.push_str(&format!(" RETURNING {}", list.join(", ")));
        }
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for column in columns {
            query = lite_bind(query, row.get(*column).unwrap_or(&Value::Null));
        }
        if returning.is_empty() {
            query.execute(&mut *self.conn).await?;
            return Ok(Vec::new());
        }
        let fetched = query.fetch_all(&mut *self.conn).await?;
        Ok(lite_rows(&fetched, returning)?)
    }

    async fn update(
        &mut self,
        table: &str,
        _info: Option<&Table>,
        set: &[(&str, Value)],
        key: &[(&str, Value)],
    ) -> Result<u64, Failure> {
        let part =
            |(column, _): &(&str, Value)| format!("{} = ?", Engine::Sqlite.quote_ident(column));
        let sql = format!(
            "UPDATE {} SET {} WHERE {}",
            Engine::Sqlite.quote_ident(table),
            set.iter().map(part).collect::<Vec<_>>().join(", "),
            key.iter().map(part).collect::<Vec<_>>().join(" AND ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (_, value) in set.iter().chain(key) {
            query = lite_bind(query, value);
        }
        Ok(query.execute(&mut *self.conn).await?.rows_affected())
    }

    async fn select(
        &mut self,
        table: &str,
        columns: &[String],
        limit: usize,
    ) -> Result<Vec<Row>, Failure> {
        let sql = select_sql(Engine::Sqlite, table, columns, limit, |c| c);
        let fetched = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&mut *self.conn)
            .await?;
        Ok(lite_rows(&fetched, columns)?)
    }
}
