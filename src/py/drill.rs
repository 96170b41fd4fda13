//! `run_drill()` and the `DrillReport` class: the walker driven from Python, with a Python
//! object running the Alembic steps.

use std::collections::BTreeMap;
use std::future::Future;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::errors::{AlembicDrillError, Result};
use super::history::{Finding, History};
use super::server::PyServer;
use super::wait::wait_for;
use crate::drill::{
    self, Direction, DrillOptions, Host, HostError, ModelComparison, Progress, StepOutcome,
};
use crate::report::{DrillReport as CoreReport, to_junit};

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(run_drill, m)?)?;
    m.add_class::<DrillReport>()?;
    m.add("DRILL_CHECKS", drill::DRILL_CHECKS.to_vec())?;
    m.add("STATIC_CHECKS", crate::graph::CHECK_IDS.to_vec())?;
    Ok(())
}

/// Runs the drill checks of `options` (a dict of DrillOptions fields) over `history` on
/// databases made in `server`; `host` runs the Alembic steps (see `alembic_drill._steps`).
#[pyfunction]
fn run_drill(
    py: Python<'_>,
    history: PyRef<'_, History>,
    server: PyRef<'_, PyServer>,
    host: Bound<'_, PyAny>,
    options: Bound<'_, PyAny>,
) -> Result<DrillReport> {
    let options: DrillOptions = pythonize::depythonize(&options)?;
    let mut py_host = PyHost {
        py,
        host,
        error: None,
    };
    let result = drill::run_drill(history.core(), server.shared(), &mut py_host, &options);
    // An exception raised by the Python side (Ctrl-C included) passes through unchanged.
    if let Some(error) = py_host.error.take() {
        return Err(error.into());
    }
    match result {
        Ok(report) => Ok(DrillReport(report)),
        Err(error) => Err(AlembicDrillError::new_err(error.to_string()).into()),
    }
}

/// The Python object that runs steps, seen as a [`Host`].
struct PyHost<'py> {
    py: Python<'py>,
    host: Bound<'py, PyAny>,
    /// The first Python exception: it stops the walk and is re-raised as it was.
    error: Option<PyErr>,
}

impl PyHost<'_> {
    fn fail(&mut self, error: PyErr) -> HostError {
        let text = error.to_string();
        self.error.get_or_insert(error);
        HostError(text)
    }
}

impl Host for PyHost<'_> {
    fn step(
        &mut self,
        url: &str,
        direction: Direction,
        revision: &str,
        capture: bool,
    ) -> Result<StepOutcome, HostError> {
        let result = self
            .host
            .call_method1("step", (url, direction.as_str(), revision, capture))
            .and_then(|r| {
                Ok(StepOutcome {
                    ok: r.get_item("ok")?.extract()?,
                    seconds: r.get_item("seconds")?.extract()?,
                    error: r.get_item("error")?.extract()?,
                    version_table: r.get_item("version_table")?.extract()?,
                    capture: r.get_item("capture")?.extract()?,
                    connections: r.get_item("connections")?.extract()?,
                })
            });
        result.map_err(|e| self.fail(e))
    }

    fn replay(&mut self, url: &str, capture: u64) -> Result<Option<String>, HostError> {
        let result = self
            .host
            .call_method1("replay", (url, capture))
            .and_then(|r| r.extract());
        result.map_err(|e| self.fail(e))
    }

    fn compare_models(&mut self, url: &str) -> Result<ModelComparison, HostError> {
        let result = self
            .host
            .call_method1("compare_models", (url,))
            .and_then(|r| {
                let (differences, unavailable): (Option<Vec<String>>, Option<String>) =
                    r.extract()?;
                Ok(match (differences, unavailable) {
                    (Some(lines), _) => ModelComparison::Differences(lines),
                    (None, reason) => ModelComparison::Unavailable(reason.unwrap_or_default()),
                })
            });
        result.map_err(|e| self.fail(e))
    }

    fn release(&mut self, url: &str) -> Result<(), HostError> {
        let result = self.host.call_method1("release", (url,)).map(drop);
        result.map_err(|e| self.fail(e))
    }

    fn bootstrap(&mut self, url: &str) -> Result<(), HostError> {
        let result = self.host.call_method1("bootstrap", (url,)).map(drop);
        result.map_err(|e| self.fail(e))
    }

    fn wait<F>(&mut self, future: F) -> Result<F::Output, HostError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        wait_for(self.py, future).map_err(|e| {
            let error: PyErr = e.into();
            self.fail(error)
        })
    }

    fn progress(&mut self, progress: Progress) {
        // Progress is best effort: a broken callback must not stop the drill. But a
        // KeyboardInterrupt or SystemExit raised while it ran (a signal's handler runs at
        // any bytecode) is kept and re-raised when the walk returns: swallowing it here
        // lost the signal.
        let called = self.host.call_method1(
            "progress",
            (
                progress.index,
                progress.total,
                progress.revision,
                progress.activity,
            ),
        );
        if let Err(error) = called
            && !error.is_instance_of::<pyo3::exceptions::PyException>(self.py)
        {
            self.error.get_or_insert(error);
        }
    }
}

/// What `check` found: static and drill findings, checks run, step timings.
#[pyclass(frozen, module = "alembic_drill._core")]
pub(crate) struct DrillReport(CoreReport);

#[pymethods]
impl DrillReport {
    /// True when no finding has error severity.
    #[getter]
    fn ok(&self) -> bool {
        self.0.ok()
    }

    #[getter]
    fn findings(&self) -> Vec<Finding> {
        self.0
            .findings
            .iter()
            .cloned()
            .map(Finding::from_core)
            .collect()
    }

    /// The database the drills ran on (password masked).
    #[getter]
    fn database(&self) -> &str {
        &self.0.database
    }

    #[getter]
    fn seconds(&self) -> f64 {
        self.0.seconds
    }

    /// Counts of findings by severity.
    #[getter]
    fn summary(&self) -> BTreeMap<&'static str, usize> {
        let s = self.0.summary;
        BTreeMap::from([
            ("errors", s.errors),
            ("warnings", s.warnings),
            ("info", s.info),
        ])
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        let value = pythonize::pythonize(py, &self.0)?;
        if let Ok(dict) = value.cast::<PyDict>() {
            dict.set_item("ok", self.0.ok())?;
        }
        Ok(value)
    }

    #[pyo3(signature = (indent=None))]
    fn to_json(&self, py: Python<'_>, indent: Option<usize>) -> Result<String> {
        let json = py.import("json")?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("indent", indent)?;
        Ok(json
            .call_method("dumps", (self.to_dict(py)?,), Some(&kwargs))?
            .extract()?)
    }

    fn to_junit(&self) -> String {
        to_junit(&self.0)
    }

    fn __repr__(&self) -> String {
        format!(
            "<DrillReport ok={} {} errors, {} warnings on {}>",
            self.0.ok(),
            self.0.summary.errors,
            self.0.summary.warnings,
            self.0.database
        )
    }
}
