//! Running the core's async work from Python: on the one runtime, with the GIL released,
//! and with Ctrl-C honoured.

use std::future::Future;
use std::time::Duration;

use pyo3::prelude::*;

use super::errors::{AlembicDrillError, Result};

/// Runs `future` to completion on the runtime. The GIL is released while it runs (Python
/// threads go on; a worker that needs Python cannot deadlock), and about every 200 ms the
/// interpreter's signal handlers run, so Ctrl-C raises KeyboardInterrupt here. An
/// interrupted task is aborted; what it started is cleaned up by its owner's stop or by
/// the next run's reaper.
pub(crate) fn wait_for<F>(py: Python<'_>, future: F) -> Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let runtime = crate::runtime::runtime().map_err(AlembicDrillError::new_err)?;
    let mut task = runtime.spawn(future);
    loop {
        let polled = py.detach(|| {
            runtime.block_on(async {
                tokio::time::timeout(Duration::from_millis(200), &mut task).await
            })
        });
        match polled {
            Ok(Ok(output)) => return Ok(output),
            Ok(Err(join_error)) => {
                return Err(AlembicDrillError::new_err(format!(
                    "internal error in alembic-drill's core: {join_error}"
                ))
                .into());
            }
            Err(_elapsed) => {
                if let Err(interrupt) = py.check_signals() {
                    task.abort();
                    return Err(interrupt.into());
                }
            }
        }
    }
}
