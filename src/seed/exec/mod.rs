//! Inserting a plan: one transaction per seeding, parents first, keys read back, failures
//! retried once and then recorded. What differs between engines (SQL spelling, binding,
//! reading generated keys back) is a [`Backend`], one file per engine.

mod mysql;
mod postgres;
mod sqlite;

use std::collections::{BTreeMap, BTreeSet};

pub use mysql::seed_mysql;
pub use postgres::seed_postgres;
pub use sqlite::seed_sqlite;

use super::error::{Result, SeedError};
use super::{Row, SeedPlan, SeedReport, SkippedRow, TablePlan, Value};
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
    const ENGINE: Engine;

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

/// How seeding messages name an engine.
fn engine_name(engine: Engine) -> &'static str {
    match engine {
        Engine::Postgres => "postgres",
        Engine::Mysql => "mysql",
        Engine::Sqlite => "sqlite",
    }
}

/// Refuses a snapshot of another engine than `B`'s: its types and names would not fit.
fn expect_engine<B: Backend>(snapshot: &SchemaSnapshot) -> Result<()> {
    if snapshot.engine == B::ENGINE {
        return Ok(());
    }
    Err(SeedError::EngineMismatch {
        snapshot: engine_name(snapshot.engine),
        connection: engine_name(B::ENGINE),
    })
}

fn transaction<B: Backend>(what: &'static str) -> impl FnOnce(sqlx::Error) -> SeedError {
    move |source| SeedError::Transaction {
        what,
        engine: engine_name(B::ENGINE),
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
                    Err(Failure::Fatal(source)) => return Err(fatal::<B>(table, source)),
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
                    Err(Failure::Fatal(source)) => return Err(fatal::<B>(table, source)),
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
            Err(Failure::Fatal(source)) => return Err(fatal::<B>(&link.table, source)),
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
        Err(Failure::Fatal(source)) => return Err(fatal::<B>(table, source)),
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
        Err(Failure::Fatal(source)) => return Err(fatal::<B>(table, source)),
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

fn fatal<B: Backend>(table: &str, source: sqlx::Error) -> SeedError {
    SeedError::Connection {
        table: table.to_owned(),
        engine: engine_name(B::ENGINE),
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
