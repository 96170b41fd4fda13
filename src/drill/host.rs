//! What the walker needs from its surroundings: running Alembic steps (in Python, through
//! the project's env.py), waiting on async inspections, and reporting progress.

use std::future::Future;

use super::hazards::Observation;
use crate::seed::ModelHints;

/// `upgrade` or `downgrade`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Upgrade,
    Downgrade,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Upgrade => "upgrade",
            Direction::Downgrade => "downgrade",
        }
    }
}

/// The result of one Alembic step. A failing migration is an outcome, not an error.
#[derive(Debug, Clone, Default)]
pub struct StepOutcome {
    pub ok: bool,
    pub seconds: f64,
    /// The database's (or the script's) error, one line.
    pub error: Option<String>,
    /// The version table env.py configured (`alembic_version` unless customised).
    pub version_table: String,
    /// Data statements the step ran, kept by the host for a replay (None: none captured).
    pub capture: Option<u64>,
    /// Database connections the step opened (the one handed to env.py, plus any env.py
    /// opened itself).
    pub connections: u32,
    /// What raised the error, when the step failed.
    pub error_kind: Option<ErrorKind>,
    /// When the step was watched ([`Host::watch_hazards`]): what each of its DDL
    /// statements did to the tables (None: not measured).
    pub hazards: Option<Vec<Observation>>,
    /// Why the measurement is incomplete, if it is.
    pub hazards_unobserved: Option<String>,
}

/// What raised a step's error: it decides how sure a finding can be when the step ran
/// on synthetic rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The database refused rows that break a constraint (NOT NULL, UNIQUE, a foreign key,
    /// a CHECK): the revision's own DDL over existing rows.
    Constraint,
    /// The database refused a value (a cast, a length, a JSON document): it depends on
    /// what the rows hold, which synthetic rows may not show as production's would.
    Value,
    /// The script's own Python code raised (parsing, a lookup, a guard on purpose).
    Code,
    /// Any other database error.
    Database,
}

impl ErrorKind {
    pub fn parse(text: &str) -> Option<ErrorKind> {
        match text {
            "constraint" => Some(ErrorKind::Constraint),
            "value" => Some(ErrorKind::Value),
            "code" => Some(ErrorKind::Code),
            "database" => Some(ErrorKind::Database),
            _ => None,
        }
    }

    /// Whether a failure of this kind on synthetic rows proves a defect on real ones.
    pub fn certain_on_synthetic_rows(self) -> bool {
        matches!(self, ErrorKind::Constraint | ErrorKind::Database)
    }
}

/// What running a revision's upgrade() a second time showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rerun {
    /// It ran: compare the data with before.
    Ran,
    /// It failed: the upgrade cannot run twice.
    Failed(String),
    /// It cannot tell (a revision that mixes schema changes with data statements whose
    /// data part cannot run on its own), with the reason.
    Skipped(String),
}

/// What the model comparison found at head.
#[derive(Debug, Clone)]
pub enum ModelComparison {
    /// Differences between env.py's `target_metadata` and the database, one line each.
    Differences(Vec<String>),
    /// The comparison could not run, with the reason (e.g. no `target_metadata`).
    Unavailable(String),
}

/// A moment of a run, for live progress.
#[derive(Debug, Clone)]
pub struct Progress {
    /// 1-based position of the revision in the walk.
    pub index: usize,
    pub total: usize,
    pub revision: String,
    /// What is running: `upgrade`, `roundtrip`, `seeded upgrade`, `replay`, `model-drift`...
    pub activity: String,
}

/// A failure of the host (not of a migration): stops the run.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct HostError {
    pub message: String,
    /// What the host's own code raised, kept so the binding can hand it back as it was
    /// (a Python exception, Ctrl-C included).
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl HostError {
    pub fn new(message: impl Into<String>) -> HostError {
        HostError {
            message: message.into(),
            source: None,
        }
    }

    /// A failure whose message is the error's own.
    pub fn caused_by(error: impl std::error::Error + Send + Sync + 'static) -> HostError {
        HostError {
            message: error.to_string(),
            source: Some(Box::new(error)),
        }
    }
}

pub trait Host {
    /// Runs exactly one revision's upgrade or downgrade on the database at `url`.
    fn step(
        &mut self,
        url: &str,
        direction: Direction,
        revision: &str,
        capture: bool,
    ) -> Result<StepOutcome, HostError>;

    /// Runs a captured upgrade's data migration once more, on the state it left (its
    /// upgrade() again, schema operations left out when it also changed the schema).
    fn rerun(&mut self, url: &str, capture: u64) -> Result<Rerun, HostError>;

    /// Compares env.py's `target_metadata` with the database.
    fn compare_models(&mut self, url: &str) -> Result<ModelComparison, HostError>;

    /// What env.py's `target_metadata` says of text columns (enum values, JSON, UUIDs),
    /// for seeded rows that look like production's; asked once a step has run. None by
    /// default.
    fn model_hints(&mut self) -> Result<ModelHints, HostError> {
        Ok(ModelHints::new())
    }

    /// Closes the connections the host keeps to the database at `url` (engines reused
    /// across steps): called before that database is cloned or dropped, which PostgreSQL
    /// refuses while sessions are open.
    fn release(&mut self, url: &str) -> Result<(), HostError>;

    /// Prepares a fresh database (tables made outside migrations).
    fn bootstrap(&mut self, url: &str) -> Result<(), HostError>;

    /// Measures (or stops measuring) what the steps on `url` do to its tables (production
    /// hazards, PostgreSQL). A host that cannot leaves [`StepOutcome::hazards`] None, and
    /// the hazard checks are skipped with that reason.
    fn watch_hazards(&mut self, _url: &str, _watch: bool) -> Result<(), HostError> {
        Ok(())
    }

    /// Waits for an inspection (snapshot, seeding, fingerprint, clone) to finish.
    fn wait<F>(&mut self, future: F) -> Result<F::Output, HostError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;

    fn progress(&mut self, progress: Progress);
}
