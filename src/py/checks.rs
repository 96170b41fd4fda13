//! The check vocabulary as Python sees it: `CHECKS` (one `CheckInfo` per check), and the
//! id lists derived from it.

use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::drill::{Check, DEFAULT_ROWS_PER_TABLE};
use crate::graph::StaticCheck;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let checks: Vec<CheckInfo> = Check::ALL
        .into_iter()
        .map(CheckInfo::drill)
        .chain(StaticCheck::ALL.into_iter().map(CheckInfo::lint))
        .collect();
    m.add_class::<CheckInfo>()?;
    m.add("CHECKS", PyTuple::new(py, checks)?)?;
    m.add("DRILL_CHECKS", Check::ALL.map(Check::id).to_vec())?;
    m.add(
        "STATIC_CHECKS",
        StaticCheck::ALL.map(StaticCheck::id).to_vec(),
    )?;
    m.add("DEFAULT_ROWS_PER_TABLE", DEFAULT_ROWS_PER_TABLE)?;
    Ok(())
}

/// One check alembic-drill knows: its id, whether it needs a database, where it runs,
/// and the severity of its findings.
#[pyclass(frozen, get_all, module = "alembic_drill._core")]
pub(crate) struct CheckInfo {
    /// The stable id, e.g. "not-idempotent".
    id: &'static str,
    /// "drill" (needs a database) or "static" (reads the scripts only).
    kind: &'static str,
    /// "revision" (once per revision), "head" (once, at head) or None (static).
    scope: Option<&'static str>,
    /// The severity of its findings: "error", "warning" or "info".
    severity: &'static str,
}

impl CheckInfo {
    fn drill(check: Check) -> CheckInfo {
        CheckInfo {
            id: check.id(),
            kind: "drill",
            scope: Some(check.scope().as_str()),
            severity: check.severity().as_str(),
        }
    }

    fn lint(check: StaticCheck) -> CheckInfo {
        CheckInfo {
            id: check.id(),
            kind: "static",
            scope: None,
            severity: check.severity().as_str(),
        }
    }
}

#[pymethods]
impl CheckInfo {
    fn __repr__(&self) -> String {
        format!("<CheckInfo {} ({}, {})>", self.id, self.kind, self.severity)
    }
}
