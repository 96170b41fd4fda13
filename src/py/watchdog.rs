//! `_Canceller`: cancels the statements running on a server's drill databases, for the
//! watchdog thread of `alembic_drill._watchdog` (step timeouts, SIGINT, SIGTERM).
//!
//! It is made on the main thread, before the walk, and copies the server's endpoint:
//! afterwards it never takes the server's lock, which a blocked clone or drop may hold
//! for as long as the statement it is there to cancel.

use std::time::Duration;

use pyo3::prelude::*;

use super::errors::{AlembicDrillError, Result};
use super::server::PyServer;
use super::wait::wait_for;
use crate::servers::Endpoint;
use crate::servers::cancel::cancel_statements;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Canceller>()
}

#[pyclass(frozen, name = "_Canceller", module = "alembic_drill._core")]
struct Canceller {
    /// None for SQLite (no server: its connections are interrupted in Python).
    endpoint: Option<Endpoint>,
}

#[pymethods]
impl Canceller {
    #[new]
    fn new(py: Python<'_>, server: PyRef<'_, PyServer>) -> Result<Canceller> {
        let shared = server.shared();
        let endpoint = wait_for(py, async move { shared.lock().await.endpoint().cloned() })?;
        Ok(Canceller { endpoint })
    }

    /// Cancels every statement running on `databases` (alembic-drill's, by name), giving
    /// up after `timeout` seconds; returns how many were cancelled. Callable from any
    /// thread: it waits without the GIL and never runs Python signal handlers.
    #[pyo3(signature = (databases, timeout=2.0))]
    fn cancel(&self, py: Python<'_>, databases: Vec<String>, timeout: f64) -> Result<u64> {
        let Some(endpoint) = self.endpoint.clone() else {
            return Ok(0);
        };
        let runtime = crate::runtime::runtime().map_err(AlembicDrillError::new_err)?;
        let limit = Duration::from_secs_f64(timeout.max(0.1));
        let outcome = py.detach(|| {
            runtime.block_on(async move {
                tokio::time::timeout(limit, cancel_statements(&endpoint, &databases)).await
            })
        });
        match outcome {
            Ok(cancelled) => Ok(cancelled?),
            Err(_elapsed) => Err(AlembicDrillError::new_err(format!(
                "cancelling statements on {} took longer than {timeout}s",
                self.endpoint
                    .as_ref()
                    .map(|e| e.masked_url(None))
                    .unwrap_or_default()
            ))
            .into()),
        }
    }
}
