//! Seeding MySQL and MariaDB: prepared statements kept in the connection's cache, generated
//! keys from `LAST_INSERT_ID()`.

use sqlx::{AssertSqlSafe, Connection as _, MySqlConnection};

use super::{Backend, Failure, expect_engine, run, select_sql, text_row, transaction};
use crate::engine::Engine;
use crate::schema::{SchemaSnapshot, Table};
use crate::seed::error::Result;
use crate::seed::{Row, SeedPlan, SeedReport, TablePlan, Value};

/// Inserts a plan into MySQL or MariaDB: one transaction (InnoDB rolls back only the failed
/// statement), each table's rows in one multi-row INSERT, generated keys from
/// `LAST_INSERT_ID()`; row by row for self-referencing tables and after a failure.
///
/// Statements are prepared and kept in the connection's statement cache: sqlx closes an
/// unkept (or evicted) MySQL statement with a packet the server does not answer, and the
/// next statement then waits out the server's delayed ACK (~40 ms each). A connection
/// seeding more than ~100 tables should have a larger `statement_cache_capacity`
/// ([`seed_url`](super::seed_url) sets 1000).
pub async fn seed_mysql(
    conn: &mut MySqlConnection,
    snapshot: &SchemaSnapshot,
    plan: &SeedPlan,
) -> Result<SeedReport> {
    expect_engine::<My>(snapshot)?;
    let mut tx = conn
        .begin()
        .await
        .map_err(transaction::<My>("beginning the seeding transaction"))?;
    let mut backend = My {
        conn: &mut tx,
        increment: None,
    };
    let report = run(&mut backend, snapshot, plan).await?;
    tx.commit()
        .await
        .map_err(transaction::<My>("committing the seeded rows"))?;
    Ok(report)
}

struct My<'c> {
    conn: &'c mut MySqlConnection,
    /// `@@auto_increment_increment`, read the first time a batch needs it.
    increment: Option<i64>,
}

/// The AUTO_INCREMENT column of a table.
fn auto_increment(info: Option<&Table>) -> Option<&str> {
    info?.columns.iter().find_map(|(name, c)| {
        c.extra
            .as_deref()
            .is_some_and(|e| e.contains("auto_increment"))
            .then_some(name.as_str())
    })
}

type MyQuery<'q> = sqlx::query::Query<'q, sqlx::MySql, sqlx::mysql::MySqlArguments>;

fn my_bind<'q>(query: MyQuery<'q>, value: &Value) -> MyQuery<'q> {
    match value {
        Value::Null | Value::Ref(_) => query.bind(None::<String>),
        Value::Int(i) => query.bind(*i),
        Value::Float(f) => query.bind(*f),
        Value::Text(s) | Value::Decimal(s) => query.bind(s.clone()),
        Value::Bool(b) => query.bind(*b),
        Value::Json(j) => query.bind(j.to_string()),
        Value::Bytes(b) => query.bind(b.clone()),
    }
}

impl Backend for My<'_> {
    const ENGINE: Engine = Engine::Mysql;

    /// Batches also when the only key to read back is the AUTO_INCREMENT column and no row
    /// gives it: a multi-row INSERT then takes consecutive values (`auto_increment_increment`
    /// apart) from `LAST_INSERT_ID()`, which is the first row's. InnoDB guarantees that for a
    /// "simple insert" in lock modes 0 and 1 (MariaDB's default) and, in mode 2 (MySQL 8's
    /// default), whenever no other session inserts into the table at the same time, which
    /// nothing does in a drill's database.
    fn batches(&self, table_plan: &TablePlan, info: Option<&Table>) -> bool {
        if table_plan.returning.is_empty() {
            return true;
        }
        let Some(auto) = auto_increment(info) else {
            return false;
        };
        table_plan.returning.iter().all(|c| c == auto)
            && !table_plan.rows.iter().any(|r| r.contains_key(auto))
    }

    async fn insert(
        &mut self,
        table: &str,
        info: Option<&Table>,
        columns: &[&str],
        rows: &[&Row],
        returning: &[String],
    ) -> Result<Vec<Row>, Failure> {
        let names: Vec<String> = columns
            .iter()
            .map(|c| Engine::Mysql.quote_ident(c))
            .collect();
        let mut sql = format!(
            "INSERT INTO {} ({}) VALUES ",
            Engine::Mysql.quote_ident(table),
            names.join(", ")
        );
        for (r, row) in rows.iter().enumerate() {
            sql.push_str(if r == 0 { "(" } else { ", (" });
            for (i, column) in columns.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(if row.contains_key(*column) {
                    "?"
                } else {
                    "DEFAULT"
                });
            }
            sql.push(')');
        }
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for row in rows {
            for column in columns {
                if let Some(value) = row.get(*column) {
                    query = my_bind(query, value);
                }
            }
        }
        let done = query.execute(&mut *self.conn).await?;
        if returning.is_empty() {
            return Ok(Vec::new());
        }
        // Only the AUTO_INCREMENT column can be read back; others stay unknown.
        let first = done.last_insert_id() as i64;
        let auto = auto_increment(info).filter(|auto| returning.iter().any(|c| c == auto));
        let (Some(auto), true) = (auto, first > 0) else {
            return Ok(Vec::new());
        };
        if rows.len() > 1 && done.rows_affected() != rows.len() as u64 {
            return Ok(Vec::new()); // a trigger or IGNORE dropped rows: ids unknown
        }
        let increment = match (rows.len(), self.increment) {
            (1, _) => 1,
            (_, Some(increment)) => increment,
            (_, None) => {
                let increment: i64 =
                    sqlx::query_scalar("SELECT CAST(@@auto_increment_increment AS SIGNED)")
                        .fetch_one(&mut *self.conn)
                        .await
                        .map_err(Failure::Fatal)?;
                self.increment = Some(increment.max(1));
                increment.max(1)
            }
        };
        Ok((0..rows.len() as i64)
            .map(|i| {
                let mut back = Row::new();
                back.insert(auto.to_owned(), Value::Int(first + i * increment));
                back
            })
            .collect())
    }

    async fn update(
        &mut self,
        table: &str,
        _info: Option<&Table>,
        set: &[(&str, Value)],
        key: &[(&str, Value)],
    ) -> Result<u64, Failure> {
        let part =
            |(column, _): &(&str, Value)| format!("{} = ?", Engine::Mysql.quote_ident(column));
        let sql = format!(
            "UPDATE {} SET {} WHERE {}",
            Engine::Mysql.quote_ident(table),
            set.iter().map(part).collect::<Vec<_>>().join(", "),
            key.iter().map(part).collect::<Vec<_>>().join(" AND ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (_, value) in set.iter().chain(key) {
            query = my_bind(query, value);
        }
        Ok(query.execute(&mut *self.conn).await?.rows_affected())
    }

    async fn select(
        &mut self,
        table: &str,
        columns: &[String],
        limit: usize,
    ) -> Result<Vec<Row>, Failure> {
        let sql = select_sql(Engine::Mysql, table, columns, limit, |c| {
            format!("CAST({c} AS CHAR)")
        });
        let fetched = sqlx::query(AssertSqlSafe(sql))
            .persistent(false)
            .fetch_all(&mut *self.conn)
            .await?;
        Ok(fetched
            .iter()
            .map(|r| text_row(r, columns))
            .collect::<Result<_, _>>()?)
    }
}
