//! Drills: every revision proven on a real database. The walker applies the history one
//! revision at a time on a database the tool owns (through a [`Host`] that runs Alembic
//! steps in Python) and, between steps, inspects the database itself: schema snapshots,
//! seeded rows, data fingerprints.

mod checks;
mod data_loss;
mod error;
mod hazards;
mod host;
mod options;
mod walk;

pub use checks::{Check, Scope};
pub use error::{DrillError, InspectionError};
pub use hazards::{Observation as HazardObservation, TableEffect as HazardTableEffect};
pub use host::{
    Direction, ErrorKind, Host, HostError, ModelComparison, Progress, Rerun, StepOutcome,
};
pub use options::{DEFAULT_ROWS_PER_TABLE, DrillOptions};
pub use walk::run_drill;

#[cfg(test)]
mod tests;
