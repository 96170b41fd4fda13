//! The `_Server` class: a database server alembic-drill owns, as Python sees it.

use std::sync::Arc;
use std::time::Duration;

use pyo3::prelude::*;
use tokio::sync::Mutex;

use super::errors::Result;
use super::wait::wait_for;
use crate::servers::inventory;
use crate::servers::{DatabaseSpec, Server, StartOptions};

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyServer>()?;
    m.add_function(wrap_pyfunction!(list_servers, m)?)?;
    m.add_function(wrap_pyfunction!(stop_kept_servers, m)?)?;
    m.add_function(wrap_pyfunction!(reap_stale_servers, m)?)?;
    Ok(())
}

/// A started server. Created by `_Server.start(...)`; wrapped by `alembic_drill.Server`.
#[pyclass(frozen, name = "_Server", module = "alembic_drill._core")]
pub(crate) struct PyServer {
    inner: Arc<Mutex<Server>>,
    spec: String,
    engine: &'static str,
    description: String,
    reason: Option<String>,
    reused: bool,
    admin_url: Option<String>,
}

impl PyServer {
    pub(crate) fn shared(&self) -> Arc<Mutex<Server>> {
        Arc::clone(&self.inner)
    }
}

#[pymethods]
impl PyServer {
    #[staticmethod]
    #[pyo3(signature = (spec="auto", *, keep=false, startup_timeout=120.0, project_url=None, postgres_image=None, mysql_image=None))]
    fn start(
        py: Python<'_>,
        spec: &str,
        keep: bool,
        startup_timeout: f64,
        project_url: Option<String>,
        postgres_image: Option<String>,
        mysql_image: Option<String>,
    ) -> Result<PyServer> {
        let spec: DatabaseSpec = spec.parse()?;
        let mut options = StartOptions {
            keep,
            startup_timeout: Duration::from_secs_f64(startup_timeout.max(1.0)),
            project_url,
            ..StartOptions::default()
        };
        if let Some(image) = postgres_image {
            options.postgres_image = image;
        }
        if let Some(image) = mysql_image {
            options.mysql_image = image;
        }
        let server = wait_for(py, async move { Server::start(&spec, &options).await })??;
        Ok(PyServer {
            spec: server.spec().to_string(),
            engine: server.engine().as_str(),
            description: server.describe(),
            reason: server.reason().map(str::to_owned),
            reused: server.reused(),
            admin_url: server.endpoint().map(|e| e.masked_url(None)),
            inner: Arc::new(Mutex::new(server)),
        })
    }

    /// The spec it was started from (URL passwords masked).
    #[getter]
    fn spec(&self) -> &str {
        &self.spec
    }

    /// "postgresql", "mysql" or "sqlite".
    #[getter]
    fn engine(&self) -> &str {
        self.engine
    }

    #[getter]
    fn description(&self) -> &str {
        &self.description
    }

    /// Why `auto` chose this server (None for an explicit spec).
    #[getter]
    fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// True when a kept server from an earlier run was reused.
    #[getter]
    fn reused(&self) -> bool {
        self.reused
    }

    /// The admin URL with its password masked (None for SQLite).
    #[getter]
    fn masked_url(&self) -> Option<&str> {
        self.admin_url.as_deref()
    }

    #[pyo3(signature = (name=None))]
    fn create_database(&self, py: Python<'_>, name: Option<String>) -> Result<String> {
        let inner = Arc::clone(&self.inner);
        Ok(wait_for(py, async move {
            inner.lock().await.create_database(name.as_deref()).await
        })??)
    }

    #[pyo3(signature = (template, name=None))]
    fn clone_database(
        &self,
        py: Python<'_>,
        template: String,
        name: Option<String>,
    ) -> Result<String> {
        let inner = Arc::clone(&self.inner);
        Ok(wait_for(py, async move {
            inner
                .lock()
                .await
                .clone_database(&template, name.as_deref())
                .await
        })??)
    }

    fn drop_database(&self, py: Python<'_>, name: String) -> Result<()> {
        let inner = Arc::clone(&self.inner);
        Ok(wait_for(py, async move {
            inner.lock().await.drop_database(&name).await
        })??)
    }

    /// Leaves a database in place when a kept server stops (for the next run).
    fn keep_database(&self, py: Python<'_>, name: String) -> Result<()> {
        let inner = Arc::clone(&self.inner);
        wait_for(py, async move { inner.lock().await.keep_database(&name) })
    }

    /// alembic-drill's databases on this server.
    fn list_databases(&self, py: Python<'_>) -> Result<Vec<String>> {
        let inner = Arc::clone(&self.inner);
        Ok(wait_for(py, async move {
            inner.lock().await.list_databases().await
        })??)
    }

    /// The SQLAlchemy URL of a database (password included: it is for connecting).
    #[pyo3(signature = (name, driver=None))]
    fn sqlalchemy_url(
        &self,
        py: Python<'_>,
        name: String,
        driver: Option<String>,
    ) -> Result<String> {
        let inner = Arc::clone(&self.inner);
        wait_for(py, async move {
            inner.lock().await.sqlalchemy_url(&name, driver.as_deref())
        })
    }

    /// The admin URL with its password, for writing to a private file; never print it.
    fn admin_url_with_password(&self, py: Python<'_>) -> Result<Option<String>> {
        let inner = Arc::clone(&self.inner);
        wait_for(py, async move {
            inner.lock().await.endpoint().map(|e| e.url(None))
        })
    }

    #[getter]
    fn stopped(&self, py: Python<'_>) -> Result<bool> {
        let inner = Arc::clone(&self.inner);
        wait_for(py, async move { inner.lock().await.is_stopped() })
    }

    /// Stops the server and removes everything it made (kept servers stay running).
    fn stop(&self, py: Python<'_>) -> Result<()> {
        let inner = Arc::clone(&self.inner);
        Ok(wait_for(
            py,
            async move { inner.lock().await.stop().await },
        )??)
    }
}

/// Every server alembic-drill owns on this machine: containers by label, local servers
/// by their state folders. Passwords masked.
#[pyfunction]
fn list_servers(py: Python<'_>) -> Result<Bound<'_, PyAny>> {
    let servers = wait_for(py, inventory::list())??;
    Ok(pythonize::pythonize(py, &servers)?)
}

/// Stops the servers kept alive between runs (all, or those of one spec). Returns what
/// was stopped.
#[pyfunction]
#[pyo3(signature = (spec=None))]
fn stop_kept_servers(py: Python<'_>, spec: Option<&str>) -> Result<Vec<String>> {
    let spec: Option<DatabaseSpec> = spec.map(str::parse).transpose()?;
    Ok(wait_for(py, async move {
        inventory::stop_kept(spec.as_ref()).await
    })??)
}

/// Removes what crashed runs left behind (containers and local servers whose owner
/// process is gone and that were not kept).
#[pyfunction]
fn reap_stale_servers(py: Python<'_>) -> Result<Vec<String>> {
    Ok(wait_for(py, inventory::reap_stale())??)
}
