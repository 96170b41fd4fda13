//! Seeding PostgreSQL: every value bound as text and cast to its column's type, each
//! statement inside a savepoint.

use sqlx::{AssertSqlSafe, Connection as _, PgConnection, Row as _};

use super::{Backend, Failure, expect_engine, run, select_sql, text_row, transaction};
use crate::engine::Engine;
use crate::schema::{SchemaSnapshot, Table};
use crate::seed::error::Result;
use crate::seed::{Row, SeedPlan, SeedReport, TablePlan, Value, hex};

/// Inserts a plan into PostgreSQL: one transaction, `SET CONSTRAINTS ALL IMMEDIATE` (so a
/// deferred foreign key fails its row, not the commit), a savepoint around each statement
/// (a failed statement would otherwise abort the transaction), each table's rows in one
/// multi-row `INSERT ... RETURNING` of the generated keys children need (rows come back in
/// VALUES order, as PostgreSQL processes a VALUES list in order). Every value is bound as
/// text and cast to the column's type (`$1::numeric(5,2)`), which accepts enums, arrays,
/// ranges and other types sqlx has no Rust type for.
pub async fn seed_postgres(
    conn: &mut PgConnection,
    snapshot: &SchemaSnapshot,
    plan: &SeedPlan,
) -> Result<SeedReport> {
    expect_engine::<Pg>(snapshot)?;
    let mut tx = conn
        .begin()
        .await
        .map_err(transaction::<Pg>("beginning the seeding transaction"))?;
    sqlx::raw_sql("SET CONSTRAINTS ALL IMMEDIATE")
        .execute(&mut *tx)
        .await
        .map_err(transaction::<Pg>("making constraints immediate"))?;
    let mut backend = Pg {
        conn: &mut tx,
        savepoint: false,
    };
    let report = run(&mut backend, snapshot, plan).await?;
    tx.commit()
        .await
        .map_err(transaction::<Pg>("committing the seeded rows"))?;
    Ok(report)
}

struct Pg<'c> {
    conn: &'c mut PgConnection,
    /// Whether the seeding savepoint exists (it is released and re-made per statement).
    savepoint: bool,
}

/// The text form PostgreSQL parses for a value (then cast to the column's type).
fn pg_text(value: &Value) -> Option<String> {
    Some(match value {
        Value::Null | Value::Ref(_) => return None,
        Value::Int(i) => i.to_string(),
        Value::Float(f) if f.is_nan() => "NaN".to_owned(),
        Value::Float(f) if f.is_infinite() => {
            (if *f > 0.0 { "Infinity" } else { "-Infinity" }).to_owned()
        }
        Value::Float(f) => f.to_string(),
        Value::Text(s) | Value::Decimal(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Json(j) => j.to_string(),
        Value::Bytes(b) => hex(b),
    })
}

impl Pg<'_> {
    fn cast(info: Option<&Table>, column: &str) -> String {
        info.and_then(|t| t.columns.get(column))
            .map(|c| format!("::{}", c.data_type))
            .unwrap_or_default()
    }

    /// Runs `sql` with `binds` inside the savepoint, rolling back to it on failure.
    async fn guarded(
        &mut self,
        sql: String,
        binds: Vec<Option<String>>,
        fetch: bool,
    ) -> Result<(Vec<sqlx::postgres::PgRow>, u64), Failure> {
        let savepoint = if self.savepoint {
            "RELEASE SAVEPOINT drill_seed; SAVEPOINT drill_seed"
        } else {
            "SAVEPOINT drill_seed"
        };
        sqlx::raw_sql(savepoint)
            .execute(&mut *self.conn)
            .await
            .map_err(Failure::Fatal)?;
        self.savepoint = true;
        let mut query = sqlx::query(AssertSqlSafe(sql)).persistent(false);
        for bind in binds {
            query = query.bind(bind);
        }
        let result = if fetch {
            query.fetch_all(&mut *self.conn).await.map(|rows| {
                let n = rows.len() as u64;
                (rows, n)
            })
        } else {
            query
                .execute(&mut *self.conn)
                .await
                .map(|done| (Vec::new(), done.rows_affected()))
        };
        match result {
            Ok(out) => Ok(out),
            Err(error) => {
                let failure = Failure::from(error);
                sqlx::raw_sql("ROLLBACK TO SAVEPOINT drill_seed")
                    .execute(&mut *self.conn)
                    .await
                    .map_err(Failure::Fatal)?;
                Err(failure)
            }
        }
    }
}

impl Backend for Pg<'_> {
    const ENGINE: Engine = Engine::Postgres;

    fn batches(&self, _table_plan: &TablePlan, _info: Option<&Table>) -> bool {
        true
    }

    async fn insert(
        &mut self,
        table: &str,
        info: Option<&Table>,
        columns: &[&str],
        rows: &[&Row],
        returning: &[String],
    ) -> Result<Vec<Row>, Failure> {
        let mut sql = format!("INSERT INTO {}", Engine::Postgres.quote_ident(table));
        let mut binds = Vec::new();
        if columns.is_empty() {
            sql.push_str(" DEFAULT VALUES");
        } else {
            let casts: Vec<String> = columns.iter().map(|c| Self::cast(info, c)).collect();
            let names: Vec<String> = columns
                .iter()
                .map(|c| Engine::Postgres.quote_ident(c))
                .collect();
            sql.push_str(&format!(" ({}) VALUES ", names.join(", ")));
            for (r, row) in rows.iter().enumerate() {
                sql.push_str(if r == 0 { "(" } else { ", (" });
                for (i, column) in columns.iter().enumerate() {
                    if i > 0 {
                        sql.push_str(", ");
                    }
                    match row.get(*column) {
                        Some(value) => {
                            binds.push(pg_text(value));
                            sql.push_str(&format!("${}{}", binds.len(), casts[i]));
                        }
                        None => sql.push_str("DEFAULT"),
                    }
                }
                sql.push(')');
            }
        }
        if !returning.is_empty() {
            let list: Vec<String> = returning
                .iter()
                .map(|c| format!("{}::text", Engine::Postgres.quote_ident(c)))
                .collect();
            sql.push_str(&format!(" RETURNING {}", list.join(", ")));
        }
        let (fetched, _) = self.guarded(sql, binds, !returning.is_empty()).await?;
        let mut out = Vec::with_capacity(fetched.len());
        for pg_row in fetched {
            let mut row = Row::new();
            for (i, column) in returning.iter().enumerate() {
                let value: Option<String> = pg_row.try_get(i).map_err(Failure::from)?;
                row.insert(column.clone(), value.map_or(Value::Null, Value::Text));
            }
            out.push(row);
        }
        Ok(out)
    }

    async fn update(
        &mut self,
        table: &str,
        info: Option<&Table>,
        set: &[(&str, Value)],
        key: &[(&str, Value)],
    ) -> Result<u64, Failure> {
        let mut binds = Vec::new();
        let mut part = |(column, value): &(&str, Value)| {
            binds.push(pg_text(value));
            format!(
                "{} = ${}{}",
                Engine::Postgres.quote_ident(column),
                binds.len(),
                Self::cast(info, column)
            )
        };
        let set_sql: Vec<String> = set.iter().map(&mut part).collect();
        let key_sql: Vec<String> = key.iter().map(&mut part).collect();
        let sql = format!(
            "UPDATE {} SET {} WHERE {}",
            Engine::Postgres.quote_ident(table),
            set_sql.join(", "),
            key_sql.join(" AND ")
        );
        let (_, changed) = self.guarded(sql, binds, false).await?;
        Ok(changed)
    }

    async fn select(
        &mut self,
        table: &str,
        columns: &[String],
        limit: usize,
    ) -> Result<Vec<Row>, Failure> {
        let sql = select_sql(Engine::Postgres, table, columns, limit, |c| {
            format!("{c}::text")
        });
        let (fetched, _) = self.guarded(sql, Vec::new(), true).await?;
        Ok(fetched
            .iter()
            .map(|r| text_row(r, columns))
            .collect::<Result<_, _>>()?)
    }
}
