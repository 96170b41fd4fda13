//! Production hazards: what an upgrade's DDL would do to a busy production table, measured
//! on the seeded database (PostgreSQL) while the upgrade runs.
//!
//! The host watches the step's own connection (`alembic_drill._hazards`) and reports, per
//! DDL statement, the tables it rewrote (`relfilenode` changed), scanned (the backend's
//! scan counters) and locked (`pg_locks` of the step's backend), and how long it held each
//! ACCESS EXCLUSIVE lock. Before the step the walk counts the rows of every table
//! ([`baseline`]). [`assess`] turns both into findings: only tables that existed before the
//! step and hold rows count (a table the step creates blocks nobody).
//!
//! | id | when |
//! |---|---|
//! | `table-rewrite` | the table's file changed (a type change, a volatile default) |
//! | `blocking-index` | `CREATE INDEX` without `CONCURRENTLY` |
//! | `validating-constraint` | a FOREIGN KEY or CHECK added without `NOT VALID` |
//! | `not-null-scan` | `SET NOT NULL` scanned the table (no valid `CHECK (col IS NOT NULL)`) |
//! | `exclusive-lock` | an ACCESS EXCLUSIVE lock held longer than `hazard_lock_ms` |

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use sqlx::postgres::PgConnection;

use super::checks::Check;
use crate::engine::Engine;

/// The hazard checks, in the order their findings are listed.
pub const CHECKS: [Check; 5] = [
    Check::TableRewrite,
    Check::BlockingIndex,
    Check::ValidatingConstraint,
    Check::NotNullScan,
    Check::ExclusiveLock,
];

/// How long an ACCESS EXCLUSIVE lock may be held before `exclusive-lock` reports it, unless
/// the options say otherwise. On the seeded database (a few rows per table) a step holds
/// its locks for milliseconds; a second means the step does real work under the lock (a
/// data migration, a rewrite of many rows, a wait), and production's will be longer. A
/// tenth of a second was too close to what a busy machine adds on its own (the hold is
/// timed from the client: Alembic's bookkeeping and the commit count in it).
pub const DEFAULT_LOCK_MS: f64 = 1000.0;

/// What one DDL statement did to the tables, as the host measured it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Observation {
    pub statement: String,
    pub seconds: f64,
    /// Run outside a transaction (`autocommit_block()`): its locks ended with it, unseen.
    pub autocommit: bool,
    pub tables: Vec<TableEffect>,
}

/// What a statement did to one table that existed before it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TableEffect {
    pub oid: i64,
    pub rewritten: bool,
    pub scans: i64,
    /// Lock modes it took (pg_locks' names: `AccessExclusiveLock`, `ShareLock`...).
    pub locks: Vec<String>,
    /// For an ACCESS EXCLUSIVE lock it took: milliseconds from the statement's start to
    /// the lock's release.
    pub held_ms: Option<f64>,
}

/// A table before the step: its name and rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRows {
    pub schema: String,
    pub name: String,
    /// In the connection's current schema (named without its schema).
    pub current: bool,
    pub rows: i64,
}

impl TableRows {
    fn display(&self) -> String {
        if self.current {
            self.name.clone()
        } else {
            format!("{}.{}", self.schema, self.name)
        }
    }
}

/// Tables before the step, by oid.
pub type Baseline = BTreeMap<i64, TableRows>;

/// One hazard found in a step.
#[derive(Debug, Clone, PartialEq)]
pub struct Hazard {
    pub check: Check,
    pub table: String,
    pub rows: i64,
    /// The statement, shortened to one line.
    pub statement: String,
    pub message: String,
}

/// Why the hazard checks cannot run on this engine (None: they can).
pub fn unsupported(engine: Engine) -> Option<&'static str> {
    match engine {
        Engine::Postgres => None,
        Engine::Mysql => Some(
            "measured on PostgreSQL only: MySQL and MariaDB expose neither a table's file \
             nor the locks of a running DDL statement to alembic-drill",
        ),
        Engine::Sqlite => Some(
            "measured on PostgreSQL only: SQLite has no concurrent sessions to block \
             (ALTER TABLE rewrites or locks the whole file)",
        ),
    }
}

/// Every user table of the database with its rows, counted (one statement, so that a
/// busy history of many tables costs one round trip).
pub async fn baseline(conn: &mut PgConnection) -> Result<Baseline, sqlx::Error> {
    let rows: Vec<(i64, String, String, bool, i64)> = sqlx::query_as(
        "SELECT c.oid::bigint, n.nspname::text, c.relname::text, \
                n.nspname = current_schema(), \
                (xpath('/row/n/text()', query_to_xml( \
                    format('SELECT count(*) AS n FROM %I.%I', n.nspname, c.relname), \
                    false, true, '')))[1]::text::bigint \
         FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') \
           AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
           AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(oid, schema, name, current, rows)| {
            (
                oid,
                TableRows {
                    schema,
                    name,
                    current,
                    rows,
                },
            )
        })
        .collect())
}

/// The hazards of one step: every observation against the tables that held rows before it.
pub fn assess(observations: &[Observation], baseline: &Baseline, lock_ms: f64) -> Vec<Hazard> {
    let mut found = Vec::new();
    let mut seen = BTreeSet::new();
    for observation in observations {
        for hazard in statement_hazards(observation, baseline, lock_ms) {
            if seen.insert((hazard.check, hazard.table.clone(), hazard.statement.clone())) {
                found.push(hazard);
            }
        }
    }
    found.sort_by_key(|h| CHECKS.iter().position(|c| *c == h.check));
    found
}

fn statement_hazards(observation: &Observation, baseline: &Baseline, lock_ms: f64) -> Vec<Hazard> {
    let sql = Statement::new(&observation.statement);
    let short = shorten(&observation.statement);
    let mut found = Vec::new();
    let mut hazard = |check: Check, table: &TableRows, message: String| {
        found.push(Hazard {
            check,
            table: table.display(),
            rows: table.rows,
            statement: short.clone(),
            message,
        });
    };
    let with_rows = |oid: i64| baseline.get(&oid).filter(|t| t.rows > 0);
    // The table the statement names (ALTER TABLE t / CREATE INDEX ... ON t): the effects
    // of a statement run in autocommit are not seen, its text still tells.
    let named = sql.target().and_then(|t| lookup(baseline, &t));

    for effect in &observation.tables {
        let Some(table) = with_rows(effect.oid) else {
            continue;
        };
        let what = describe(table, &short, observation.seconds);
        if effect.rewritten && !sql.starts_with(&["TRUNCATE"]) {
            let (cause, alternative) = sql.rewrite_cause();
            hazard(
                Check::TableRewrite,
                table,
                format!(
                    "{what} rewrites the whole table ({cause}) under an ACCESS EXCLUSIVE lock: \
                     reads and writes wait until it commits; {alternative}"
                ),
            );
        }
        if sql.is_set_not_null() && effect.scans > 0 && !effect.rewritten {
            hazard(
                Check::NotNullScan,
                table,
                format!(
                    "{what} scans the whole table under an ACCESS EXCLUSIVE lock to prove no \
                     NULL is left; safe alternative: add CHECK (col IS NOT NULL) NOT VALID, \
                     VALIDATE CONSTRAINT it (a weaker lock), then SET NOT NULL (PostgreSQL \
                     12+ skips the scan) and drop the CHECK"
                ),
            );
        }
        if let Some(held) = effect.held_ms
            && held > lock_ms
            && effect.locks.iter().any(|l| l == "AccessExclusiveLock")
        {
            hazard(
                Check::ExclusiveLock,
                table,
                format!(
                    "{what} takes an ACCESS EXCLUSIVE lock that the step holds for {held:.0} ms \
                     (limit {lock_ms:.0} ms, hazard_lock_ms), even on alembic-drill's seeded \
                     rows: every read and write of the table waits that long, longer on \
                     production's rows; safe alternative: keep the locking statement alone in \
                     a short transaction (move data migrations and slow work out, batch \
                     backfills) and set lock_timeout"
                ),
            );
        }
    }

    if sql.is_create_index() && !sql.has_word("CONCURRENTLY") {
        // The lock the statement took names its table; in autocommit it is gone, the
        // statement's own text names it.
        let locked = observation
            .tables
            .iter()
            .find(|e| e.locks.iter().any(|l| l == "ShareLock"))
            .and_then(|e| with_rows(e.oid));
        if let Some(table) = locked.or(named.filter(|t| t.rows > 0)) {
            let what = describe(table, &short, observation.seconds);
            hazard(
                Check::BlockingIndex,
                table,
                format!(
                    "{what} builds the index under a SHARE lock: every INSERT, UPDATE and DELETE \
                     on the table waits until it is built; safe alternative: CREATE INDEX \
                     CONCURRENTLY (Alembic: postgresql_concurrently=True inside \
                     op.get_context().autocommit_block())"
                ),
            );
        }
    }

    if let Some(kind) = sql.added_constraint()
        && !sql.has_phrase(&["NOT", "VALID"])
        && let Some(table) = named.filter(|t| t.rows > 0)
    {
        let what = describe(table, &short, observation.seconds);
        hazard(
            Check::ValidatingConstraint,
            table,
            format!(
                "{what} adds a {kind} that is checked against every row while the table is \
                 locked (SHARE ROW EXCLUSIVE or ACCESS EXCLUSIVE); safe alternative: add it \
                 NOT VALID, then ALTER TABLE ... VALIDATE CONSTRAINT in a later transaction \
                 (it takes a lock that lets reads and writes go on)"
            ),
        );
    }
    found
}

/// Where and what: the table with its rows, the statement with the time it took there (what
/// grows with `hazard_rows`).
fn describe(table: &TableRows, statement: &str, seconds: f64) -> String {
    format!(
        "on {} ({} rows on the seeded database), `{statement}` ({:.0} ms there)",
        table.display(),
        table.rows,
        seconds * 1000.0
    )
}

/// The table of the baseline a statement names (`schema.table`, or a table of the current
/// schema).
fn lookup<'a>(baseline: &'a Baseline, name: &(Option<String>, String)) -> Option<&'a TableRows> {
    let (schema, table) = name;
    baseline.values().find(|t| {
        t.name == *table
            && match schema {
                Some(schema) => t.schema == *schema,
                None => t.current,
            }
    })
}

/// The statement on one line, at most 120 characters.
fn shorten(statement: &str) -> String {
    let line = statement.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= 120 {
        line
    } else {
        format!("{}...", line.chars().take(117).collect::<String>())
    }
}

/// A statement's words, for the few shapes the hazards name (not a SQL parser: quoted
/// identifiers are kept whole, string literals and comments are not looked into).
struct Statement {
    /// Upper-cased words, identifiers unquoted (as written, not upper-cased, when quoted).
    words: Vec<Word>,
}

#[derive(Debug, Clone)]
struct Word {
    upper: String,
    /// The identifier it spells: unquoted as written (lower-cased when it was not quoted,
    /// as PostgreSQL folds it).
    ident: String,
}

impl Statement {
    fn new(sql: &str) -> Statement {
        let mut words = Vec::new();
        let mut chars = sql.chars().peekable();
        while let Some(&c) = chars.peek() {
            if c == '"' {
                chars.next();
                let mut ident = String::new();
                while let Some(c) = chars.next() {
                    if c == '"' {
                        if chars.peek() == Some(&'"') {
                            chars.next();
                            ident.push('"');
                            continue;
                        }
                        break;
                    }
                    ident.push(c);
                }
                words.push(Word {
                    upper: String::new(),
                    ident,
                });
            } else if c == '\'' {
                // A literal: skipped whole ('' escapes included).
                chars.next();
                while let Some(c) = chars.next() {
                    if c == '\'' {
                        if chars.peek() == Some(&'\'') {
                            chars.next();
                            continue;
                        }
                        break;
                    }
                }
                words.push(Word {
                    upper: "'".into(),
                    ident: String::new(),
                });
            } else if c.is_alphanumeric() || c == '_' || c == '$' {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_alphanumeric() || c == '_' || c == '$' {
                        word.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                words.push(Word {
                    upper: word.to_uppercase(),
                    ident: word.to_lowercase(),
                });
            } else {
                chars.next();
                if !c.is_whitespace() {
                    words.push(Word {
                        upper: c.to_string(),
                        ident: String::new(),
                    });
                }
            }
        }
        Statement { words }
    }

    fn starts_with(&self, prefix: &[&str]) -> bool {
        self.words.len() >= prefix.len()
            && self.words.iter().zip(prefix).all(|(w, p)| w.upper == *p)
    }

    fn has_word(&self, word: &str) -> bool {
        self.words.iter().any(|w| w.upper == word)
    }

    fn has_phrase(&self, phrase: &[&str]) -> bool {
        self.words
            .windows(phrase.len())
            .any(|w| w.iter().zip(phrase).all(|(w, p)| w.upper == *p))
    }

    fn is_create_index(&self) -> bool {
        self.starts_with(&["CREATE", "INDEX"]) || self.starts_with(&["CREATE", "UNIQUE", "INDEX"])
    }

    fn is_set_not_null(&self) -> bool {
        self.starts_with(&["ALTER", "TABLE"]) && self.has_phrase(&["SET", "NOT", "NULL"])
    }

    /// `FOREIGN KEY` or `CHECK` constraint added by an ALTER TABLE, if it adds one.
    fn added_constraint(&self) -> Option<&'static str> {
        if !self.starts_with(&["ALTER", "TABLE"]) || !self.has_word("ADD") {
            return None;
        }
        if self.has_phrase(&["FOREIGN", "KEY"]) || self.has_word("REFERENCES") {
            Some("FOREIGN KEY")
        } else if self.has_word("CHECK") {
            Some("CHECK")
        } else {
            None
        }
    }

    /// What made a statement rewrite its table, and the safe alternative.
    fn rewrite_cause(&self) -> (&'static str, &'static str) {
        if self.has_word("TYPE") {
            (
                "a column type change",
                "safe alternative: add a column of the new type, backfill it in batches, then \
                 swap the columns (or pick a change PostgreSQL does without a rewrite: \
                 varchar(n) to a larger n or to text)",
            )
        } else if self.has_phrase(&["ADD", "COLUMN"]) || self.has_word("DEFAULT") {
            (
                "a column added with a volatile default, computed for every row",
                "safe alternative: add the column without a default (or with a constant one: \
                 PostgreSQL 11+ does not rewrite), set the default afterwards, and backfill \
                 existing rows in batches",
            )
        } else {
            (
                "this statement",
                "safe alternative: do it in a maintenance window, or with a tool that copies \
                 the table online (pg_repack)",
            )
        }
    }

    /// The table an `ALTER TABLE` or `CREATE INDEX ... ON` names: (schema, table).
    fn target(&self) -> Option<(Option<String>, String)> {
        let mut at = if self.starts_with(&["ALTER", "TABLE"]) {
            2
        } else if self.is_create_index() {
            let on = self.words.iter().position(|w| w.upper == "ON")?;
            on + 1
        } else {
            return None;
        };
        let skip = |at: &mut usize, words: &[&str]| {
            while *at < self.words.len() && words.contains(&self.words[*at].upper.as_str()) {
                *at += 1;
            }
        };
        skip(&mut at, &["IF", "EXISTS", "ONLY"]);
        let first = self.words.get(at)?;
        if first.ident.is_empty() {
            return None;
        }
        if self.words.get(at + 1).is_some_and(|w| w.upper == ".") {
            let second = self.words.get(at + 2)?;
            return Some((Some(first.ident.clone()), second.ident.clone()));
        }
        Some((None, first.ident.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USERS: i64 = 16384;
    const EMPTY: i64 = 16400;

    fn baseline() -> Baseline {
        BTreeMap::from([
            (
                USERS,
                TableRows {
                    schema: "public".into(),
                    name: "users".into(),
                    current: true,
                    rows: 3,
                },
            ),
            (
                EMPTY,
                TableRows {
                    schema: "public".into(),
                    name: "empty".into(),
                    current: true,
                    rows: 0,
                },
            ),
        ])
    }

    fn effect(oid: i64) -> TableEffect {
        TableEffect {
            oid,
            rewritten: false,
            scans: 0,
            locks: Vec::new(),
            held_ms: None,
        }
    }

    fn observed(statement: &str, tables: Vec<TableEffect>) -> Observation {
        Observation {
            statement: statement.into(),
            seconds: 0.001,
            autocommit: false,
            tables,
        }
    }

    fn checks(observations: &[Observation]) -> Vec<Check> {
        assess(observations, &baseline(), DEFAULT_LOCK_MS)
            .into_iter()
            .map(|h| h.check)
            .collect()
    }

    #[test]
    fn a_rewrite_names_its_cause() {
        let rewrite = TableEffect {
            rewritten: true,
            scans: 1,
            locks: vec!["AccessExclusiveLock".into()],
            held_ms: Some(3.0),
            ..effect(USERS)
        };
        let found = assess(
            &[observed(
                "ALTER TABLE users ALTER COLUMN id TYPE BIGINT",
                vec![rewrite.clone()],
            )],
            &baseline(),
            DEFAULT_LOCK_MS,
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].check, Check::TableRewrite);
        assert_eq!((found[0].table.as_str(), found[0].rows), ("users", 3));
        assert!(
            found[0].message.contains("type change"),
            "{}",
            found[0].message
        );
        let volatile = assess(
            &[observed(
                "ALTER TABLE users ADD COLUMN seen timestamp DEFAULT clock_timestamp()",
                vec![rewrite],
            )],
            &baseline(),
            DEFAULT_LOCK_MS,
        );
        assert!(volatile[0].message.contains("volatile default"));
    }

    #[test]
    fn only_tables_that_held_rows_count() {
        let rewrite = TableEffect {
            rewritten: true,
            ..effect(EMPTY)
        };
        assert!(
            checks(&[observed(
                "ALTER TABLE empty ALTER COLUMN a TYPE text",
                vec![rewrite]
            )])
            .is_empty()
        );
        // Made by the step: not in the baseline.
        let made = TableEffect {
            rewritten: true,
            ..effect(99999)
        };
        assert!(
            checks(&[observed(
                "ALTER TABLE fresh ALTER COLUMN a TYPE text",
                vec![made]
            )])
            .is_empty()
        );
        assert!(checks(&[observed("CREATE INDEX ix ON empty (a)", vec![])]).is_empty());
    }

    #[test]
    fn index_without_concurrently_blocks_writes() {
        let share = TableEffect {
            locks: vec!["ShareLock".into()],
            ..effect(USERS)
        };
        assert_eq!(
            checks(&[observed(
                "CREATE INDEX ix_users_name ON users (name)",
                vec![share]
            )]),
            [Check::BlockingIndex]
        );
        // In autocommit_block() the lock is gone when it is read: the text names the table.
        let mut autocommit = observed(
            "CREATE UNIQUE INDEX ix ON public.users USING btree (name)",
            vec![],
        );
        autocommit.autocommit = true;
        assert_eq!(checks(&[autocommit]), [Check::BlockingIndex]);
        assert!(
            checks(&[observed(
                "CREATE INDEX CONCURRENTLY ix ON users (name)",
                vec![]
            )])
            .is_empty()
        );
    }

    #[test]
    fn constraints_need_not_valid() {
        let fk = "ALTER TABLE users ADD CONSTRAINT fk_org FOREIGN KEY(org_id) REFERENCES orgs (id)";
        assert_eq!(
            checks(&[observed(fk, vec![])]),
            [Check::ValidatingConstraint]
        );
        assert!(checks(&[observed(&format!("{fk} NOT VALID"), vec![])]).is_empty());
        let check = "ALTER TABLE \"users\" ADD CONSTRAINT ck CHECK (age >= 0)";
        assert_eq!(
            checks(&[observed(check, vec![])]),
            [Check::ValidatingConstraint]
        );
        assert!(checks(&[observed("ALTER TABLE users VALIDATE CONSTRAINT ck", vec![])]).is_empty());
        // A quoted CHECK inside a literal is no constraint.
        assert!(
            checks(&[observed(
                "ALTER TABLE users ADD COLUMN note text DEFAULT 'CHECK'",
                vec![]
            )])
            .is_empty()
        );
    }

    #[test]
    fn set_not_null_is_a_hazard_only_when_it_scanned() {
        let sql = "ALTER TABLE users ALTER COLUMN name SET NOT NULL";
        let scanned = TableEffect {
            scans: 1,
            locks: vec!["AccessExclusiveLock".into()],
            ..effect(USERS)
        };
        assert_eq!(
            checks(&[observed(sql, vec![scanned])]),
            [Check::NotNullScan]
        );
        let proven = TableEffect {
            locks: vec!["AccessExclusiveLock".into()],
            ..effect(USERS)
        };
        assert!(checks(&[observed(sql, vec![proven])]).is_empty());
    }

    #[test]
    fn exclusive_lock_held_past_the_limit() {
        let held = |ms: f64| TableEffect {
            locks: vec!["AccessExclusiveLock".into()],
            held_ms: Some(ms),
            ..effect(USERS)
        };
        let sql = "ALTER TABLE users ADD COLUMN flag boolean";
        assert_eq!(
            checks(&[observed(sql, vec![held(1500.0)])]),
            [Check::ExclusiveLock]
        );
        assert!(checks(&[observed(sql, vec![held(350.0)])]).is_empty());
        let found = assess(&[observed(sql, vec![held(350.0)])], &baseline(), 200.0);
        assert_eq!(found.len(), 1, "the limit is a setting");
    }

    #[test]
    fn targets_are_read_from_the_text() {
        let target = |sql: &str| Statement::new(sql).target();
        assert_eq!(
            target("ALTER TABLE IF EXISTS ONLY \"Users\" ADD x int"),
            Some((None, "Users".into()))
        );
        assert_eq!(
            target("alter table app.users add x int"),
            Some((Some("app".into()), "users".into()))
        );
        assert_eq!(
            target("CREATE INDEX IF NOT EXISTS ix ON ONLY users (a)"),
            Some((None, "users".into()))
        );
        assert_eq!(target("DROP TABLE users"), None);
    }

    #[test]
    fn long_statements_are_shortened_to_one_line() {
        let long = format!("ALTER TABLE users\n    ADD COLUMN {}", "x".repeat(200));
        let short = shorten(&long);
        assert!(short.len() <= 120 && short.ends_with("...") && !short.contains('\n'));
    }
}
