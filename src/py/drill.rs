//! `run_drill()` and the `DrillReport` class: the walker driven from Python, with a Python
//! object running the Alembic steps.

use std::collections::BTreeMap;
use std::future::Future;

use pyo3::prelude::*;

use super::errors::{InvalidOptions, Result};
use super::history::{Finding, History};
use super::server::PyServer;
use super::wait::wait_for;
use crate::drill::{
    self, Direction, DrillOptions, ErrorKind, Host, HostError, ModelComparison, Progress, Rerun,
    StepOutcome,
};
use crate::report::{DrillReport as CoreReport, to_junit, to_python_json};
use crate::seed::ModelHints;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(run_drill, m)?)?;
    m.add_class::<DrillReport>()?;
    Ok(())
}

/// Runs the drill checks of `options` (a dict of DrillOptions fields) over `history` on
/// databases made in `server`; `host` runs the Alembic steps (see `alembic_drill._steps`).
/// `_core.pyi` types both: keep them in step with `DrillOptions`, `PyHost` and `StepDict`.
#[pyfunction]
fn run_drill(
    py: Python<'_>,
    history: PyRef<'_, History>,
    server: PyRef<'_, PyServer>,
    host: Bound<'_, PyAny>,
    options: Bound<'_, PyAny>,
) -> Result<DrillReport> {
    let options: DrillOptions = pythonize::depythonize(&options).map_err(InvalidOptions)?;
    let mut py_host = PyHost {
        py,
        host,
        interrupted: None,
    };
    // A Python exception the host raised travels inside the error as its source.
    let report = drill::run_drill(history.core(), server.shared(), &mut py_host, &options)?;
    if let Some(interrupted) = py_host.interrupted.take() {
        return Err(interrupted.into());
    }
    Ok(DrillReport(report))
}

/// The Python object that runs steps, seen as a [`Host`].
struct PyHost<'py> {
    py: Python<'py>,
    host: Bound<'py, PyAny>,
    /// A KeyboardInterrupt or SystemExit raised inside `progress` (which returns nothing):
    /// raised by the next call, or when the walk returns.
    interrupted: Option<PyErr>,
}

/// What the host's `step()` returns (`StepOutcome` in `_core.pyi`).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct StepDict<'py> {
    ok: bool,
    seconds: f64,
    error: Option<String>,
    version_table: String,
    capture: Option<u64>,
    connections: u32,
    /// What raised the error (`constraint`, `value`, `code`, `database`).
    error_kind: Option<String>,
    /// Production hazards measured (alembic_drill._hazards), when the step was watched.
    #[pyo3(default)]
    hazards: Option<Bound<'py, PyAny>>,
    #[pyo3(default)]
    hazards_unobserved: Option<String>,
}

impl TryFrom<StepDict<'_>> for StepOutcome {
    type Error = PyErr;

    fn try_from(step: StepDict<'_>) -> PyResult<StepOutcome> {
        let hazards = match step.hazards {
            Some(observations) if !observations.is_none() => Some(
                pythonize::depythonize(&observations)
                    .map_err(|e| PyErr::from(super::errors::Error::from(e)))?,
            ),
            _ => None,
        };
        Ok(StepOutcome {
            ok: step.ok,
            seconds: step.seconds,
            error: step.error,
            version_table: step.version_table,
            capture: step.capture,
            connections: step.connections,
            error_kind: step.error_kind.as_deref().and_then(ErrorKind::parse),
            hazards,
            hazards_unobserved: step.hazards_unobserved,
        })
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
        if let Some(interrupted) = self.interrupted.take() {
            return Err(HostError::caused_by(interrupted));
        }
        let result = self
            .host
            .call_method1("step", (url, direction.as_str(), revision, capture))
            .and_then(|r| r.extract::<StepDict>().and_then(StepOutcome::try_from));
        result.map_err(HostError::caused_by)
    }

    fn rerun(&mut self, url: &str, capture: u64) -> Result<Rerun, HostError> {
        let result = self
            .host
            .call_method1("rerun", (url, capture))
            .and_then(|r| r.extract::<(Option<String>, Option<String>)>());
        match result {
            Ok((Some(error), _)) => Ok(Rerun::Failed(error)),
            Ok((None, Some(reason))) => Ok(Rerun::Skipped(reason)),
            Ok((None, None)) => Ok(Rerun::Ran),
            Err(e) => Err(HostError::caused_by(e)),
        }
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
        result.map_err(HostError::caused_by)
    }

    fn model_hints(&mut self) -> Result<ModelHints, HostError> {
        let result = self
            .host
            .call_method0("model_hints")
            .and_then(|hints| pythonize::depythonize::<ModelHints>(&hints).map_err(PyErr::from));
        result.map_err(HostError::caused_by)
    }

    fn release(&mut self, url: &str) -> Result<(), HostError> {
        let result = self.host.call_method1("release", (url,)).map(drop);
        result.map_err(HostError::caused_by)
    }

    fn bootstrap(&mut self, url: &str) -> Result<(), HostError> {
        let result = self.host.call_method1("bootstrap", (url,)).map(drop);
        result.map_err(HostError::caused_by)
    }

    fn watch_hazards(&mut self, url: &str, watch: bool) -> Result<(), HostError> {
        // A host without the method measures nothing: the steps say so (hazards None).
        match self.host.hasattr("watch_hazards") {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e) => return Err(HostError::caused_by(e)),
        }
        let result = self
            .host
            .call_method1("watch_hazards", (url, watch))
            .map(drop);
        result.map_err(HostError::caused_by)
    }

    fn wait<F>(&mut self, future: F) -> Result<F::Output, HostError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        wait_for(self.py, future).map_err(|e| HostError::caused_by(PyErr::from(e)))
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
            self.interrupted.get_or_insert(error);
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
        self.0.ok
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
        Ok(pythonize::pythonize(py, &self.0)?)
    }

    /// The document `json.dumps(self.to_dict(), indent=indent)` would write.
    #[pyo3(signature = (indent=None))]
    fn to_json(&self, indent: Option<usize>) -> Result<String> {
        Ok(to_python_json(&self.0, indent)?)
    }

    fn to_junit(&self) -> String {
        to_junit(&self.0)
    }

    fn __repr__(&self) -> String {
        format!(
            "<DrillReport ok={} {} errors, {} warnings on {}>",
            self.0.ok, self.0.summary.errors, self.0.summary.warnings, self.0.database
        )
    }
}
