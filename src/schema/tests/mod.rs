//! Integration tests against real engines. SQLite always runs; PostgreSQL and MySQL/MariaDB
//! run when their server URL is set (see `support`).

use std::time::Duration;

use crate::engine::Engine;

mod mysql;
mod postgres;
mod sqlite;
pub(crate) mod support;

const TIMING_RUNS: usize = 7;

/// DDL for 100 tables shaped like a real application's: primary key, unique, a foreign key to
/// the previous table, a check, a default, and a two-column index each.
fn hundred_tables_sql(engine: Engine) -> String {
    let mut sql = String::new();
    for i in 0..100 {
        let id = match engine {
            Engine::Postgres => "id serial PRIMARY KEY",
            Engine::Mysql => "id INT AUTO_INCREMENT PRIMARY KEY",
            Engine::Sqlite => "id INTEGER PRIMARY KEY",
        };
        let parent = if i == 0 {
            String::new()
        } else {
            format!(
                ", parent_id INT REFERENCES t{:03}(id) ON DELETE CASCADE",
                i - 1
            )
        };
        // MySQL ignores inline column REFERENCES; it needs the table-level form.
        let (parent, mysql_fk) = match (engine, i) {
            (Engine::Mysql, 0) => (String::new(), String::new()),
            (Engine::Mysql, _) => (
                ", parent_id INT".to_owned(),
                format!(
                    ", FOREIGN KEY (parent_id) REFERENCES t{:03}(id) ON DELETE CASCADE",
                    i - 1
                ),
            ),
            _ => (parent, String::new()),
        };
        sql.push_str(&format!(
            "CREATE TABLE t{i:03} ({id}{parent}, code VARCHAR(20) NOT NULL UNIQUE, \
             name VARCHAR(100) DEFAULT 'x', amount NUMERIC(10, 2) CHECK (amount >= 0), \
             created_at TIMESTAMP NULL{mysql_fk});\n\
             CREATE INDEX ix_t{i:03}_name_created ON t{i:03} (name, created_at);\n"
        ));
    }
    sql
}

/// Prints min/median/max of the timings (for the ignored `measure_*` tests; no test
/// asserts a time).
fn report_timing(engine: &str, times: &mut [Duration]) {
    times.sort();
    let median = times[times.len() / 2];
    eprintln!(
        "{engine}: snapshot of 100 tables: min {:?}, median {median:?}, max {:?} ({} runs)",
        times[0],
        times[times.len() - 1],
        times.len()
    );
}
