//! A [`Host`] without Python: each revision's upgrade and downgrade are plain SQL run on
//! the SQLite file, so the walk can be tested in `cargo test --lib`.

use std::collections::BTreeMap;
use std::future::Future;

use sqlx::{AssertSqlSafe, Connection, SqliteConnection};

use crate::drill::{
    Direction, ErrorKind, Host, HostError, ModelComparison, Progress, Rerun, StepOutcome,
};

/// One revision's statements, each direction run in one transaction.
#[derive(Debug, Clone, Default)]
pub(super) struct Script {
    pub upgrade: Vec<&'static str>,
    pub downgrade: Vec<&'static str>,
}

pub(super) struct SqliteHost {
    scripts: BTreeMap<String, Script>,
    /// Data statements captured by steps, by capture number.
    captures: BTreeMap<u64, Vec<&'static str>>,
    /// Every `(direction, revision)` stepped, in order.
    pub steps: Vec<(Direction, String)>,
    /// Every activity reported, in order.
    pub activities: Vec<String>,
}

impl SqliteHost {
    pub(super) fn new(scripts: impl IntoIterator<Item = (&'static str, Script)>) -> SqliteHost {
        SqliteHost {
            scripts: scripts
                .into_iter()
                .map(|(id, script)| (id.to_owned(), script))
                .collect(),
            captures: BTreeMap::new(),
            steps: Vec::new(),
            activities: Vec::new(),
        }
    }

    fn run(
        &mut self,
        future: impl Future<Output = Result<(), String>> + Send + 'static,
    ) -> Option<String> {
        let runtime = crate::runtime::runtime().expect("a runtime");
        runtime.block_on(future).err()
    }
}

/// The SQLAlchemy URL the walk hands over (`sqlite:////tmp/x.db`) as sqlx reads it.
fn sqlx_url(alembic_url: &str) -> String {
    let path = alembic_url
        .strip_prefix("sqlite:///")
        .expect("a SQLite file URL");
    format!("sqlite://{path}")
}

async fn execute(url: String, statements: Vec<&'static str>) -> Result<(), String> {
    let mut conn = SqliteConnection::connect(&url)
        .await
        .map_err(|e| e.to_string())?;
    let mut tx = conn.begin().await.map_err(|e| e.to_string())?;
    for statement in statements {
        sqlx::raw_sql(AssertSqlSafe(statement))
            .execute(&mut *tx)
            .await
            .map_err(|e| e.to_string())?;
    }
    tx.commit().await.map_err(|e| e.to_string())?;
    conn.close().await.map_err(|e| e.to_string())
}

fn is_data(statement: &str) -> bool {
    let head = statement.trim_start().to_ascii_uppercase();
    ["INSERT", "UPDATE", "DELETE"]
        .iter()
        .any(|verb| head.starts_with(verb))
}

impl Host for SqliteHost {
    fn step(
        &mut self,
        url: &str,
        direction: Direction,
        revision: &str,
        capture: bool,
    ) -> Result<StepOutcome, HostError> {
        let script = self
            .scripts
            .get(revision)
            .ok_or_else(|| HostError::new(format!("no revision {revision:?}")))?;
        let statements = match direction {
            Direction::Upgrade => script.upgrade.clone(),
            Direction::Downgrade => script.downgrade.clone(),
        };
        self.steps.push((direction, revision.to_owned()));
        let data: Vec<&'static str> = statements.iter().copied().filter(|s| is_data(s)).collect();
        let error = self.run(execute(sqlx_url(url), statements));
        let capture = (capture && error.is_none() && !data.is_empty()).then(|| {
            let number = self.captures.len() as u64 + 1;
            self.captures.insert(number, data);
            number
        });
        Ok(StepOutcome {
            ok: error.is_none(),
            error_kind: error.as_ref().map(|_| ErrorKind::Database),
            seconds: 0.0,
            error,
            version_table: "alembic_version".to_owned(),
            capture,
            connections: 1,
            ..StepOutcome::default()
        })
    }

    /// The upgrade's data statements again (its plain SQL has no Python guards).
    fn rerun(&mut self, url: &str, capture: u64) -> Result<Rerun, HostError> {
        let statements = self
            .captures
            .remove(&capture)
            .ok_or_else(|| HostError::new(format!("no capture {capture}")))?;
        Ok(match self.run(execute(sqlx_url(url), statements)) {
            Some(error) => Rerun::Failed(error),
            None => Rerun::Ran,
        })
    }

    fn compare_models(&mut self, _url: &str) -> Result<ModelComparison, HostError> {
        Ok(ModelComparison::Unavailable(
            "the SQLite test host has no models".to_owned(),
        ))
    }

    fn release(&mut self, _url: &str) -> Result<(), HostError> {
        Ok(())
    }

    fn bootstrap(&mut self, _url: &str) -> Result<(), HostError> {
        Ok(())
    }

    fn wait<F>(&mut self, future: F) -> Result<F::Output, HostError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let runtime = crate::runtime::runtime().map_err(HostError::new)?;
        Ok(runtime.block_on(future))
    }

    fn progress(&mut self, progress: Progress) {
        self.activities.push(progress.activity);
    }
}
