//! The exception hierarchy Python sees, and the one mapping from Rust errors into it.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

use crate::drill::DrillError as CoreDrillError;
use crate::graph::GraphError;
use crate::render::ParseFormatError;
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

create_exception!(
    _core,
    DrillError,
    AlembicDrillError,
    "The drill stopped before its report was complete (a failing migration is a finding, \
     never this)."
);
create_exception!(
    _core,
    DrillHostError,
    DrillError,
    "The code running the Alembic steps failed outside a migration; what it raised is the \
     __cause__."
);
create_exception!(
    _core,
    DrillInspectionError,
    DrillError,
    "One of the drill's databases could not be read, fingerprinted or seeded."
);
create_exception!(
    _core,
    DrillRebuildError,
    DrillError,
    "A database the drill had to make again could not be: a revision no longer upgrades."
);
create_exception!(
    _core,
    DrillOptionsError,
    AlembicDrillError,
    "Options for run_drill() that name an unknown key or check, or hold a value of the \
     wrong type."
);
create_exception!(
    _core,
    ForeignDatabaseError,
    AlembicDrillError,
    "env.py sent a statement to a database alembic-drill did not create."
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
    m.add("DrillError", py.get_type::<DrillError>())?;
    m.add("DrillHostError", py.get_type::<DrillHostError>())?;
    m.add(
        "DrillInspectionError",
        py.get_type::<DrillInspectionError>(),
    )?;
    m.add("DrillRebuildError", py.get_type::<DrillRebuildError>())?;
    m.add("DrillOptionsError", py.get_type::<DrillOptionsError>())?;
    m.add(
        "ForeignDatabaseError",
        py.get_type::<ForeignDatabaseError>(),
    )?;
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

impl From<CoreDrillError> for Error {
    fn from(error: CoreDrillError) -> Error {
        let message = error.to_string();
        Error(match error {
            CoreDrillError::Host(host) => {
                match host.source.map(|source| source.downcast::<PyErr>()) {
                    Some(Ok(raised)) => return Error(host_exception(*raised, message)),
                    _ => DrillHostError::new_err(message),
                }
            }
            CoreDrillError::Server(server) => return (*server).into(),
            CoreDrillError::Inspection { .. } => DrillInspectionError::new_err(message),
            CoreDrillError::Rebuild { .. } => DrillRebuildError::new_err(message),
        })
    }
}

/// What Python sees of an exception the host raised: alembic-drill's own errors and
/// interruptions (KeyboardInterrupt, SystemExit) as they were; anything else, raised by
/// the project's code, as a `DrillHostError` whose `__cause__` it is.
fn host_exception(raised: PyErr, message: String) -> PyErr {
    Python::attach(|py| {
        let ours = raised.is_instance_of::<AlembicDrillError>(py);
        let interruption = !raised.is_instance_of::<PyException>(py);
        if ours || interruption {
            return raised;
        }
        let wrapped = DrillHostError::new_err(message);
        wrapped.set_cause(py, Some(raised));
        wrapped
    })
}

/// Options for `run_drill()` that do not fit `DrillOptions`.
pub(crate) struct InvalidOptions(pub pythonize::PythonizeError);

impl From<InvalidOptions> for Error {
    fn from(InvalidOptions(error): InvalidOptions) -> Error {
        Error(DrillOptionsError::new_err(format!(
            "invalid drill options: {error}"
        )))
    }
}

impl From<ParseFormatError> for Error {
    /// A bad argument value, as Python's own functions report one.
    fn from(error: ParseFormatError) -> Error {
        Error(pyo3::exceptions::PyValueError::new_err(error.to_string()))
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
