//! What runs leave outside their process, as Python sees it: SQLite folders on this
//! machine and the marked `drill_` databases of a server given by URL (`db list`), and
//! the reclaiming of what dead owners left.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::errors::Result;
use super::server::PyServer;
use super::wait::wait_for;
use crate::servers::sqlite_folders;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(list_sqlite_folders, m)?)?;
    m.add_function(wrap_pyfunction!(reap_sqlite_folders, m)?)?;
    m.add_function(wrap_pyfunction!(list_marked_databases, m)?)?;
    m.add_function(wrap_pyfunction!(reap_stale_databases, m)?)?;
    Ok(())
}

/// The SQLite folders on this machine, as rows shaped like `list_servers()`'s.
#[pyfunction]
fn list_sqlite_folders(py: Python<'_>) -> Result<Vec<Bound<'_, PyDict>>> {
    let mut rows = Vec::new();
    for folder in sqlite_folders::list_owned() {
        let row = PyDict::new(py);
        row.set_item("kind", "sqlite")?;
        row.set_item("id", folder.dir.display().to_string())?;
        row.set_item("spec", "sqlite")?;
        row.set_item("url", py.None())?;
        row.set_item("kept", false)?;
        row.set_item("owner_pid", folder.owner.as_ref().map(|o| o.pid))?;
        row.set_item("owner_alive", folder.owner_alive())?;
        rows.push(row);
    }
    Ok(rows)
}

/// Removes the SQLite folders whose owner is gone; returns them.
#[pyfunction]
fn reap_sqlite_folders() -> Vec<String> {
    sqlite_folders::reap_stale()
        .into_iter()
        .map(|d| d.display().to_string())
        .collect()
}

/// alembic-drill's databases on a server, with their owner marks (servers given by URL
/// carry them): name, owner_pid, owner_host, run_id, owner_alive (None: unmarked).
#[pyfunction]
fn list_marked_databases<'py>(
    py: Python<'py>,
    server: PyRef<'_, PyServer>,
) -> Result<Vec<Bound<'py, PyDict>>> {
    let shared = server.shared();
    let databases = wait_for(
        py,
        async move { shared.lock().await.marked_databases().await },
    )??;
    let mut rows = Vec::new();
    for database in databases {
        let row = PyDict::new(py);
        let owner = database.owner.as_ref();
        row.set_item("name", &database.name)?;
        row.set_item("owner_pid", owner.map(|o| o.pid))?;
        row.set_item("owner_host", owner.map(|o| o.host.as_str()))?;
        row.set_item("run_id", owner.map(|o| o.run_id.as_str()))?;
        row.set_item("owner_alive", owner.map(|o| o.owner_alive()))?;
        row.set_item("stale", database.stale())?;
        rows.push(row);
    }
    Ok(rows)
}

/// Drops the databases on a server given by URL that runs of this host left when they
/// were killed (their owner is gone); returns their names. Not done when a server is
/// attached, so that `db list` can still show them.
#[pyfunction]
fn reap_stale_databases(py: Python<'_>, server: PyRef<'_, PyServer>) -> Result<Vec<String>> {
    let shared = server.shared();
    Ok(wait_for(py, async move {
        shared.lock().await.reap_stale_databases().await
    })??)
}
