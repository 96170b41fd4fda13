//! The one error type of the drill: what stops a walk. A migration that fails is a
//! finding, never one of these.

use crate::schema::SchemaError;
use crate::seed::SeedError;
use crate::servers::ServerError;

use super::host::HostError;

/// Why a walk stopped before its report was complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DrillError {
    /// The host (the Python side running Alembic steps) failed: its own error, or one
    /// raised by the project's code it called (carried as the source).
    #[error(transparent)]
    Host(#[from] HostError),

    /// The server could not create, clone or drop one of the walk's databases. (Boxed,
    /// like the inspection's source: the happy path's `Result`s stay small.)
    #[error(transparent)]
    Server(Box<ServerError>),

    /// An inspection of one of the walk's databases failed (schema and seed errors come in
    /// through [`InspectionError`], which names what was being done).
    #[error("cannot {doing} {database}: {source}")]
    Inspection {
        /// `read the schema of`, `fingerprint` or `seed`.
        doing: &'static str,
        database: String,
        #[source]
        source: Box<InspectionError>,
    },

    /// A database whose state could not be trusted could not be made again: a revision
    /// that upgraded earlier in the walk no longer does.
    #[error("cannot rebuild the database: {revision} no longer upgrades ({error})")]
    Rebuild { revision: String, error: String },
}

/// What failed inside an inspection: reading the database, or seeding it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InspectionError {
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error(transparent)]
    Seed(#[from] SeedError),
}

impl From<ServerError> for DrillError {
    fn from(error: ServerError) -> DrillError {
        DrillError::Server(Box::new(error))
    }
}
