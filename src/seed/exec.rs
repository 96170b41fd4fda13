//! Inserting a plan: one transaction per seeding, parents first, keys read back, failures
//! retried once and then recorded.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::{
    AssertSqlSafe, Connection as _, MySqlConnection, PgConnection, Row as _, SqliteConnection,
    TypeInfo as _, ValueRef as _,
};

use super::error::{Result, SeedError};
use super::{Row, SeedPlan, SeedReport, SkippedRow, TablePlan, Value, hex};
use crate::engine::Engine;
use crate::schema::{SchemaSnapshot, Table};

/// Bind parameters per statement stay well under every engine's limit (65535).
const MAX_PARAMS: usize = 30_000;

/// Why a statement did not go through.
enum Failure {
    /// The database refused it (constraint, trigger, bad value): the row is retried or
    /// skipped with this message.
    Row(String),
    /// The connection is unusable: seeding stops.
    Fatal(sqlx::Error),
}

impl From<sqlx::Error> for Failure {
    fn from(error: sqlx::Error) -> Failure {
        match &error {
            sqlx::Error::Database(db) => Failure::Row(db.message().to_owned()),
            sqlx::Error::Encode(_)
            | sqlx::Error::Decode(_)
            | sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::TypeNotFound { .. } => Failure::Row(error.to_string()),
            _ => Failure::Fatal(error),
        }
    }
}

/// What differs between engines: SQL spelling, binding, reading generated keys back.
trait Backend {
    const ENGINE: &'static str;

    /// Whether a table's rows may go in one multi-row INSERT.
    fn batches(&self, table_plan: &TablePlan, info: Option<&Table>) -> bool;

    /// Inserts `rows` (all with keys among `columns`; absent ones take their default) in
    /// one statement and returns, per row, the `returning` columns the database filled.
    async fn insert(
        &mut self,
        table: &str,
        info: Option<&Table>,
        columns: &[&str],
        rows: &[&Row],
        returning: &[String],
    ) -> Result<Vec<Row>, Failure>;

    /// `UPDATE table SET set WHERE key`; the number of rows changed.
    async fn update(
        &mut self,
        table: &str,
        info: Option<&Table>,
        set: &[(&str, Value)],
        key: &[(&str, Value)],
    ) -> Result<u64, Failure>;

    /// Up to `limit` rows of a table that already holds rows, `columns` only, as values
    /// to bind again (references to them).
    async fn select(
        &mut self,
        table: &str,
        columns: &[String],
        limit: usize,
    ) -> Result<Vec<Row>, Failure>;
}

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
    expect_engine(snapshot, Engine::Postgres, Pg::ENGINE)?;
    let mut tx = conn
        .begin()
        .await
        .map_err(transaction("beginning the seeding transaction", Pg::ENGINE))?;
    sqlx::raw_sql("SET CONSTRAINTS ALL IMMEDIATE")
        .execute(&mut *tx)
        .await
        .map_err(transaction("making constraints immediate", Pg::ENGINE))?;
    let mut backend = Pg {
        conn: &mut tx,
        savepoint: false,
    };
    let report = run(&mut backend, snapshot, plan).await?;
    tx.commit()
        .await
        .map_err(transaction("committing the seeded rows", Pg::ENGINE))?;
    Ok(report)
}

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
    expect_engine(snapshot, Engine::Mysql, My::ENGINE)?;
    let mut tx = conn
        .begin()
        .await
        .map_err(transaction("beginning the seeding transaction", My::ENGINE))?;
    let mut backend = My {
        conn: &mut tx,
        increment: None,
    };
    let report = run(&mut backend, snapshot, plan).await?;
    tx.commit()
        .await
        .map_err(transaction("committing the seeded rows", My::ENGINE))?;
    Ok(report)
}

/// Inserts a plan into SQLite: one transaction, row by row (statements are in-process and
/// SQLite has no `DEFAULT` in VALUES lists), `RETURNING` the generated keys.
pub async fn seed_sqlite(
    conn: &mut SqliteConnection,
    snapshot: &SchemaSnapshot,
    plan: &SeedPlan,
) -> Result<SeedReport> {
    expect_engine(snapshot, Engine::Sqlite, Lite::ENGINE)?;
    let mut tx = conn.begin().await.map_err(transaction(
        "beginning the seeding transaction",
        Lite::ENGINE,
    ))?;
    let report = run(&mut Lite { conn: &mut tx }, snapshot, plan).await?;
    tx.commit()
        .await
        .map_err(transaction("committing the seeded rows", Lite::ENGINE))?;
    Ok(report)
}

fn expect_engine(snapshot: &SchemaSnapshot, engine: Engine, name: &'static str) -> Result<()> {
    if snapshot.engine == engine {
        return Ok(());
    }
    Err(SeedError::EngineMismatch {
        snapshot: match snapshot.engine {
            Engine::Postgres => Pg::ENGINE,
            Engine::Mysql => My::ENGINE,
            Engine::Sqlite => Lite::ENGINE,
        },
        connection: name,
    })
}

fn transaction(what: &'static str, engine: &'static str) -> impl FnOnce(sqlx::Error) -> SeedError {
    move |source| SeedError::Transaction {
        what,
        engine,
        source,
    }
}

/// Inserted rows' values (given and read back), per table and planned row.
struct State {
    known: BTreeMap<String, Vec<Option<Row>>>,
    done: BTreeSet<String>,
}

impl State {
    /// The row to use for a reference to `row` of `table`: that row when it was inserted,
    /// else the first inserted row of the table.
    fn target(&self, table: &str, row: usize) -> Option<usize> {
        let rows = self.known.get(table)?;
        if rows.get(row).is_some_and(Option::is_some) {
            return Some(row);
        }
        rows.iter().position(Option::is_some)
    }

    /// `row` with its references replaced by the values of the rows they point at.
    fn resolve(&self, snapshot: &SchemaSnapshot, table: &str, row: &Row) -> Result<Row, String> {
        let mut out = Row::new();
        for (column, value) in row {
            let Value::Ref(r) = value else {
                out.insert(column.clone(), value.clone());
                continue;
            };
            let target = self.target(&r.table, r.row);
            let found = target
                .and_then(|t| self.known[&r.table][t].as_ref())
                .and_then(|k| k.get(&r.column));
            if let Some(v) = found {
                out.insert(column.clone(), v.clone());
                continue;
            }
            let nullable = snapshot
                .tables
                .get(table)
                .and_then(|t| t.columns.get(column))
                .is_some_and(|c| c.nullable);
            if nullable {
                out.insert(column.clone(), Value::Null);
                continue;
            }
            return Err(if target.is_some() {
                format!(
                    "the value of {}.{} that {column} refers to could not be read back",
                    r.table, r.column
                )
            } else if r.table == table {
                format!(
                    "{column} must refer to a row of {table} itself, and no earlier row exists \
                     (the referred key is generated by the database)"
                )
            } else if !self.done.contains(&r.table) {
                format!(
                    "{column} refers to {}, which is seeded after {table} (a cycle of NOT NULL \
                     foreign keys)",
                    r.table
                )
            } else {
                format!(
                    "{column} refers to {}, and no row of it could be inserted",
                    r.table
                )
            });
        }
        Ok(out)
    }

    fn record(&mut self, table: &str, index: usize, mut values: Row, returned: Option<&Row>) {
        if let Some(returned) = returned {
            for (column, value) in returned {
                values
                    .entry(column.clone())
                    .or_insert_with(|| value.clone());
            }
        }
        if let Some(slot) = self
            .known
            .get_mut(table)
            .and_then(|rows| rows.get_mut(index))
        {
            *slot = Some(values);
        }
    }
}

/// Insert order of columns: the table's, then any the user named that it does not have.
fn columns_of<'r>(info: Option<&Table>, rows: &[&'r Row]) -> Vec<&'r str> {
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for row in rows {
        names.extend(row.keys().map(String::as_str));
    }
    let mut columns: Vec<&str> = names.into_iter().collect();
    columns.sort_by_key(|c| {
        (
            info.and_then(|t| t.columns.get(*c))
                .map_or(u32::MAX, |col| col.ordinal),
            *c,
        )
    });
    columns
}

async fn run<B: Backend>(
    backend: &mut B,
    snapshot: &SchemaSnapshot,
    plan: &SeedPlan,
) -> Result<SeedReport> {
    let mut state = State {
        known: BTreeMap::new(),
        done: BTreeSet::new(),
    };
    let mut report = SeedReport::default();
    for table_plan in &plan.tables {
        let table = table_plan.table.as_str();
        if plan.existing.contains(table) {
            let columns = plan.referred_columns(table);
            let rows = if columns.is_empty() {
                Vec::new()
            } else {
                match backend.select(table, &columns, table_plan.rows.len()).await {
                    Ok(rows) => rows,
                    Err(Failure::Row(_)) => Vec::new(),
                    Err(Failure::Fatal(source)) => return Err(fatal(table, B::ENGINE, source)),
                }
            };
            let mut known: Vec<Option<Row>> = rows.into_iter().map(Some).collect();
            known.resize(table_plan.rows.len().max(known.len()), None);
            state.known.insert(table.to_owned(), known);
            state.done.insert(table.to_owned());
            continue;
        }
        state
            .known
            .insert(table.to_owned(), vec![None; table_plan.rows.len()]);
        report.inserted.insert(table.to_owned(), 0);
        let info = snapshot.tables.get(table);
        let self_referencing = table_plan
            .rows
            .iter()
            .chain(table_plan.retry_rows.iter().flatten())
            .flat_map(|r| r.values())
            .any(|v| matches!(v, Value::Ref(r) if r.table == table));

        let mut one_by_one = Vec::new();
        if !self_referencing && backend.batches(table_plan, info) {
            let mut batch = Vec::new();
            for (i, row) in table_plan.rows.iter().enumerate() {
                match state.resolve(snapshot, table, row) {
                    // A row of defaults only has no spelling in a multi-row VALUES list.
                    Ok(resolved) if resolved.is_empty() => one_by_one.push(i),
                    Ok(resolved) => batch.push((i, resolved)),
                    Err(reason) => skip(&mut report, table, i, reason),
                }
            }
            let width = batch.first().map_or(1, |(_, r)| r.len().max(1));
            for chunk in batch.chunks((MAX_PARAMS / width).max(1)) {
                let rows: Vec<&Row> = chunk.iter().map(|(_, r)| r).collect();
                let columns = columns_of(info, &rows);
                match backend
                    .insert(table, info, &columns, &rows, &table_plan.returning)
                    .await
                {
                    Ok(returned) => {
                        let returned_all = returned.len() == chunk.len();
                        for (n, (i, values)) in chunk.iter().enumerate() {
                            let back = returned_all.then(|| &returned[n]);
                            state.record(table, *i, values.clone(), back);
                        }
                        *report.inserted.entry(table.to_owned()).or_default() += chunk.len();
                    }
                    Err(Failure::Row(_)) => one_by_one.extend(chunk.iter().map(|(i, _)| *i)),
                    Err(Failure::Fatal(source)) => return Err(fatal(table, B::ENGINE, source)),
                }
            }
            one_by_one.sort_unstable();
        } else {
            one_by_one.extend(0..table_plan.rows.len());
        }
        for i in one_by_one {
            insert_row(
                backend,
                snapshot,
                table_plan,
                info,
                i,
                &mut state,
                &mut report,
            )
            .await?;
        }
        state.done.insert(table.to_owned());
    }

    for link in plan
        .links
        .iter()
        .filter(|l| !plan.existing.contains(&l.table))
    {
        let Some(Some(child)) = state.known.get(&link.table).and_then(|r| r.get(link.row)) else {
            continue; // the row itself was skipped
        };
        let info = snapshot.tables.get(&link.table);
        let unlinked = |reason: String| SkippedRow {
            table: link.table.clone(),
            row: link.row,
            reason,
        };
        let pk = info.and_then(|t| t.primary_key.as_ref());
        let key: Option<Vec<(&str, Value)>> = pk.and_then(|pk| {
            pk.columns
                .iter()
                .map(|c| child.get(c).map(|v| (c.as_str(), v.clone())))
                .collect()
        });
        let Some(key) = key else {
            report.unlinked.push(unlinked(format!(
                "{} has no primary key whose values are known, to set {} on the row",
                link.table,
                link.columns.join(", ")
            )));
            continue;
        };
        let parent = state
            .target(&link.parent_table, link.parent_row)
            .and_then(|t| state.known[&link.parent_table][t].as_ref());
        let set: Option<Vec<(&str, Value)>> = parent.and_then(|p| {
            link.columns
                .iter()
                .zip(&link.parent_columns)
                .map(|(c, pc)| p.get(pc).map(|v| (c.as_str(), v.clone())))
                .collect()
        });
        let Some(set) = set else {
            report.unlinked.push(unlinked(format!(
                "no row of {} to set {} to",
                link.parent_table,
                link.columns.join(", ")
            )));
            continue;
        };
        match backend.update(&link.table, info, &set, &key).await {
            Ok(1) => {}
            Ok(n) => report.unlinked.push(unlinked(format!(
                "setting {} changed {n} rows instead of 1",
                link.columns.join(", ")
            ))),
            Err(Failure::Row(message)) => report.unlinked.push(unlinked(message)),
            Err(Failure::Fatal(source)) => return Err(fatal(&link.table, B::ENGINE, source)),
        }
    }
    Ok(report)
}

/// One row: the planned row, then its retry row, then recorded as skipped.
async fn insert_row<B: Backend>(
    backend: &mut B,
    snapshot: &SchemaSnapshot,
    table_plan: &TablePlan,
    info: Option<&Table>,
    i: usize,
    state: &mut State,
    report: &mut SeedReport,
) -> Result<()> {
    let table = table_plan.table.as_str();
    let first = match state.resolve(snapshot, table, &table_plan.rows[i]) {
        Ok(row) => row,
        Err(reason) => {
            skip(report, table, i, reason);
            return Ok(());
        }
    };
    let message = match try_one(backend, table, info, &first, &table_plan.returning).await {
        Ok(returned) => {
            state.record(table, i, first, returned.first());
            *report.inserted.entry(table.to_owned()).or_default() += 1;
            return Ok(());
        }
        Err(Failure::Row(message)) => message,
        Err(Failure::Fatal(source)) => return Err(fatal(table, B::ENGINE, source)),
    };
    let Some(Some(retry)) = table_plan.retry_rows.get(i) else {
        skip(report, table, i, message);
        return Ok(());
    };
    let second = match state.resolve(snapshot, table, retry) {
        Ok(row) => row,
        Err(reason) => {
            skip(report, table, i, format!("{message}; no retry: {reason}"));
            return Ok(());
        }
    };
    match try_one(backend, table, info, &second, &table_plan.returning).await {
        Ok(returned) => {
            state.record(table, i, second, returned.first());
            *report.inserted.entry(table.to_owned()).or_default() += 1;
        }
        Err(Failure::Row(again)) if again == message => skip(report, table, i, message),
        Err(Failure::Row(again)) => skip(
            report,
            table,
            i,
            format!("{message}; retried with other values: {again}"),
        ),
        Err(Failure::Fatal(source)) => return Err(fatal(table, B::ENGINE, source)),
    }
    Ok(())
}

async fn try_one<B: Backend>(
    backend: &mut B,
    table: &str,
    info: Option<&Table>,
    row: &Row,
    returning: &[String],
) -> Result<Vec<Row>, Failure> {
    let rows = [row];
    let columns = columns_of(info, &rows);
    backend
        .insert(table, info, &columns, &rows, returning)
        .await
}

fn skip(report: &mut SeedReport, table: &str, row: usize, reason: String) {
    report.skipped.push(SkippedRow {
        table: table.to_owned(),
        row,
        reason,
    });
}

fn fatal(table: &str, engine: &'static str, source: sqlx::Error) -> SeedError {
    SeedError::Connection {
        table: table.to_owned(),
        engine,
        source,
    }
}

/// `SELECT <columns> FROM <table> LIMIT <limit>`, each quoted column spelled by `spell`.
fn select_sql(
    engine: Engine,
    table: &str,
    columns: &[String],
    limit: usize,
    spell: impl Fn(String) -> String,
) -> String {
    let list: Vec<String> = columns
        .iter()
        .map(|c| spell(engine.quote_ident(c)))
        .collect();
    format!(
        "SELECT {} FROM {} LIMIT {limit}",
        list.join(", "),
        engine.quote_ident(table)
    )
}

/// A row read as text (every column cast to text in the query), NULL kept.
fn text_row<R>(row: &R, columns: &[String]) -> Result<Row, sqlx::Error>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let mut out = Row::new();
    for (i, column) in columns.iter().enumerate() {
        let value: Option<String> = row.try_get(i)?;
        out.insert(column.clone(), value.map_or(Value::Null, Value::Text));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// PostgreSQL

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
    const ENGINE: &'static str = "postgres";

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

// ---------------------------------------------------------------------------------------
// MySQL / MariaDB

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
    const ENGINE: &'static str = "mysql";

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

// ---------------------------------------------------------------------------------------
// SQLite

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
    const ENGINE: &'static str = "sqlite";

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
