//! The exception hierarchy Python sees, and the one mapping from Rust errors into it.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

use crate::graph::GraphError;
use crate::servers::ServerError as CoreServerError;

create_exception!(
    _core,
    AlembicDrillError,
    PyException,
    "Base class of every error alembic-drill raises."
);
create_exception!(
    _core,
    ConfigError,
    AlembicDrillError,
    "The path is not a usable Alembic project (missing or unreadable configuration)."
);
create_exception!(
    _core,
    RevisionError,
    AlembicDrillError,
    "A revision, prefix or branch label that names no revision, or an impossible path."
);

create_exception!(
    _core,
    ServerError,
    AlembicDrillError,
    "A database server could not be started, reached or used."
);
create_exception!(
    _core,
    SpecError,
    ServerError,
    "A database spec that names no usable kind of server."
);
create_exception!(
    _core,
    ServerStartError,
    ServerError,
    "A server did not start: Docker or binaries missing, image absent, timeout, port taken."
);
create_exception!(
    _core,
    NotOurDatabaseError,
    ServerError,
    "Refused: alembic-drill only drops databases it created."
);

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("AlembicDrillError", py.get_type::<AlembicDrillError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("RevisionError", py.get_type::<RevisionError>())?;
    m.add("ServerError", py.get_type::<ServerError>())?;
    m.add("SpecError", py.get_type::<SpecError>())?;
    m.add("ServerStartError", py.get_type::<ServerStartError>())?;
    m.add("NotOurDatabaseError", py.get_type::<NotOurDatabaseError>())?;
    Ok(())
}

/// Wraps a Rust error for `?` in binding code: the single place errors become exceptions.
pub(crate) struct Error(PyErr);

impl From<Error> for PyErr {
    fn from(error: Error) -> PyErr {
        error.0
    }
}

impl From<PyErr> for Error {
    fn from(error: PyErr) -> Error {
        Error(error)
    }
}

impl From<GraphError> for Error {
    fn from(error: GraphError) -> Error {
        Error(RevisionError::new_err(error.to_string()))
    }
}

impl From<CoreServerError> for Error {
    fn from(error: CoreServerError) -> Error {
        let message = error.to_string();
        Error(match error {
            CoreServerError::InvalidSpec { .. } => SpecError::new_err(message),
            CoreServerError::DockerUnreachable { .. }
            | CoreServerError::ImageMissing { .. }
            | CoreServerError::StartupTimeout { .. }
            | CoreServerError::StartupFailed { .. }
            | CoreServerError::PortTaken { .. }
            | CoreServerError::BinariesNotFound { .. } => ServerStartError::new_err(message),
            CoreServerError::NotOurs { .. } => NotOurDatabaseError::new_err(message),
            _ => ServerError::new_err(message),
        })
    }
}

impl From<pythonize::PythonizeError> for Error {
    fn from(error: pythonize::PythonizeError) -> Error {
        Error(AlembicDrillError::new_err(format!(
            "unexpected data from the script loader: {error}"
        )))
    }
}

impl From<serde_json::Error> for Error {
    fn from(error: serde_json::Error) -> Error {
        Error(AlembicDrillError::new_err(format!(
            "cannot encode the report: {error}"
        )))
    }
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;
