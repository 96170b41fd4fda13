//! `load_history()` and the `History`, `Revision` and `Finding` classes.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::errors::Result;
use crate::finding::Finding as CoreFinding;
use crate::history::{History as CoreHistory, LoadedProject};
use crate::render::Format;
use crate::revision::{BodyKind, RevisionMeta};

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(load_history, m)?)?;
    m.add_class::<History>()?;
    m.add_class::<Revision>()?;
    m.add_class::<Finding>()?;
    Ok(())
}

/// Loads the Alembic project at `config` (an alembic.ini, a pyproject.toml with
/// [tool.alembic], or a folder holding one; default: the current folder), imports every
/// revision script and runs the static checks.
#[pyfunction]
#[pyo3(signature = (config=None))]
fn load_history(py: Python<'_>, config: Option<std::path::PathBuf>) -> Result<History> {
    let loader = py.import("alembic_drill._loader")?;
    let loaded = loader.call_method1("load_project", (config,))?;
    let loaded: LoadedProject = pythonize::depythonize(&loaded)?;
    // Building the graph and checking it needs no interpreter: let other threads run.
    let history = py.detach(|| CoreHistory::analyze(loaded));
    Ok(History {
        inner: Arc::new(history),
    })
}

/// A loaded revision history: its graph and what the static checks found.
#[pyclass(frozen, module = "alembic_drill._core")]
pub(crate) struct History {
    inner: Arc<CoreHistory>,
}

#[pymethods]
impl History {
    /// The alembic.ini or pyproject.toml the configuration came from.
    #[getter]
    fn config_file(&self) -> &str {
        &self.inner.config_file
    }

    /// The migration environment folder (where env.py lives).
    #[getter]
    fn script_location(&self) -> &str {
        &self.inner.script_location
    }

    #[getter]
    fn version_locations(&self) -> Vec<String> {
        self.inner.version_locations.clone()
    }

    #[getter]
    fn heads(&self) -> Vec<String> {
        owned(self.inner.graph.heads())
    }

    #[getter]
    fn bases(&self) -> Vec<String> {
        owned(self.inner.graph.bases())
    }

    /// Revision ids base first; every revision after its parents and dependencies.
    #[getter]
    fn order(&self) -> Vec<String> {
        owned(self.inner.graph.order())
    }

    /// Every loaded revision, in topological order (base first).
    #[getter]
    fn revisions(&self) -> Vec<Revision> {
        self.inner
            .graph
            .order()
            .into_iter()
            .map(|id| self.revision_object(id))
            .collect()
    }

    #[getter]
    fn findings(&self) -> Vec<Finding> {
        self.inner.findings.iter().cloned().map(Finding).collect()
    }

    /// True when no finding has error severity.
    #[getter]
    fn ok(&self) -> bool {
        self.inner.ok()
    }

    fn __len__(&self) -> usize {
        self.inner.graph.len()
    }

    fn __contains__(&self, id: &str) -> bool {
        self.inner.graph.get(id).is_some()
    }

    /// The revision with this id, unique id prefix or branch label.
    fn get(&self, target: &str) -> Result<Revision> {
        let id = self.inner.graph.resolve(target)?;
        Ok(self.revision_object(id))
    }

    fn __getitem__(&self, target: &str) -> Result<Revision> {
        self.get(target)
    }

    fn parents(&self, target: &str) -> Result<Vec<String>> {
        let id = self.inner.graph.resolve(target)?;
        Ok(owned(self.inner.graph.parents(id)))
    }

    fn children(&self, target: &str) -> Result<Vec<String>> {
        let id = self.inner.graph.resolve(target)?;
        Ok(owned(self.inner.graph.children(id)))
    }

    /// Revisions to apply, in order, to go from `start` (None: an empty database) up to
    /// `end`, dependencies included.
    #[pyo3(signature = (end, start=None))]
    fn upgrade_path(&self, end: &str, start: Option<&str>) -> Result<Vec<String>> {
        let graph = &self.inner.graph;
        let end = graph.resolve(end)?;
        let start = start.map(|s| graph.resolve(s)).transpose()?;
        Ok(owned(graph.upgrade_path(start, end)?))
    }

    /// Draws the history: "text", "mermaid" or "dot".
    #[pyo3(signature = (format="text"))]
    fn render(&self, py: Python<'_>, format: &str) -> Result<String> {
        let format: Format = format.parse()?;
        let inner = Arc::clone(&self.inner);
        Ok(py.detach(move || inner.render(format)))
    }

    /// The `lint --json` document as plain Python data.
    fn to_dict<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        Ok(pythonize::pythonize(py, &self.inner.lint_report())?)
    }

    /// The `lint --json` document.
    #[pyo3(signature = (indent=None))]
    fn to_json(&self, indent: Option<usize>) -> Result<String> {
        to_json(&self.inner.lint_report(), indent)
    }

    /// The `graph --format json` document: every revision with its edges and findings.
    #[pyo3(signature = (indent=None))]
    fn graph_json(&self, indent: Option<usize>) -> Result<String> {
        to_json(&self.inner.graph_report(), indent)
    }

    fn __repr__(&self) -> String {
        let summary = self.inner.summary();
        format!(
            "<History {} revisions, heads={:?}, {} errors, {} warnings>",
            self.inner.graph.len(),
            self.inner.graph.heads(),
            summary.errors,
            summary.warnings
        )
    }
}

impl History {
    pub(crate) fn core(&self) -> &CoreHistory {
        &self.inner
    }

    fn revision_object(&self, id: &str) -> Revision {
        let graph = &self.inner.graph;
        let meta = graph.get(id).cloned().unwrap_or_default();
        Revision {
            is_head: graph.children(id).is_empty(),
            children: owned(graph.children(id)),
            meta,
        }
    }
}

/// One revision script.
#[pyclass(frozen, module = "alembic_drill._core")]
pub(crate) struct Revision {
    meta: RevisionMeta,
    children: Vec<String>,
    is_head: bool,
}

#[pymethods]
impl Revision {
    #[getter]
    fn id(&self) -> &str {
        &self.meta.id
    }

    /// The `down_revision` ids (empty for a base, several for a merge).
    #[getter]
    fn parents(&self) -> Vec<String> {
        self.meta.down_revisions.clone()
    }

    #[getter]
    fn children(&self) -> Vec<String> {
        self.children.clone()
    }

    #[getter]
    fn branch_labels(&self) -> Vec<String> {
        self.meta.branch_labels.clone()
    }

    #[getter]
    fn depends_on(&self) -> Vec<String> {
        self.meta.depends_on.clone()
    }

    #[getter]
    fn path(&self) -> &str {
        &self.meta.path
    }

    #[getter]
    fn doc(&self) -> Option<&str> {
        self.meta.doc.as_deref()
    }

    #[getter]
    fn is_head(&self) -> bool {
        self.is_head
    }

    #[getter]
    fn is_base(&self) -> bool {
        self.meta.is_base()
    }

    #[getter]
    fn is_merge(&self) -> bool {
        self.meta.is_merge()
    }

    /// "implemented", "stub", "irreversible" or "missing".
    #[getter]
    fn upgrade_kind(&self) -> &'static str {
        kind_name(self.meta.upgrade.kind)
    }

    #[getter]
    fn downgrade_kind(&self) -> &'static str {
        kind_name(self.meta.downgrade.kind)
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        let dict = pythonize::pythonize(py, &self.meta)?;
        if let Ok(dict) = dict.cast::<PyDict>() {
            dict.set_item("children", self.children.clone())?;
            dict.set_item("is_head", self.is_head)?;
        }
        Ok(dict)
    }

    fn __repr__(&self) -> String {
        format!(
            "<Revision {} parents={:?} path={:?}>",
            self.meta.id, self.meta.down_revisions, self.meta.path
        )
    }
}

/// One problem found in the history.
#[pyclass(frozen, module = "alembic_drill._core")]
pub(crate) struct Finding(CoreFinding);

impl Finding {
    pub(crate) fn from_core(finding: CoreFinding) -> Finding {
        Finding(finding)
    }
}

#[pymethods]
impl Finding {
    /// The stable check id, e.g. "multiple-heads".
    #[getter]
    fn check(&self) -> &str {
        &self.0.check
    }

    /// "error", "warning" or "info".
    #[getter]
    fn severity(&self) -> &'static str {
        self.0.severity.as_str()
    }

    #[getter]
    fn revision(&self) -> Option<&str> {
        self.0.revision.as_deref()
    }

    #[getter]
    fn path(&self) -> Option<&str> {
        self.0.path.as_deref()
    }

    #[getter]
    fn line(&self) -> Option<u32> {
        self.0.line
    }

    #[getter]
    fn message(&self) -> &str {
        &self.0.message
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        Ok(pythonize::pythonize(py, &self.0)?)
    }

    fn __repr__(&self) -> String {
        format!(
            "<Finding {} {} revision={:?}: {}>",
            self.0.severity, self.0.check, self.0.revision, self.0.message
        )
    }
}

fn kind_name(kind: BodyKind) -> &'static str {
    match kind {
        BodyKind::Implemented => "implemented",
        BodyKind::Stub => "stub",
        BodyKind::Irreversible => "irreversible",
        BodyKind::Missing => "missing",
    }
}

fn owned(ids: Vec<&str>) -> Vec<String> {
    ids.into_iter().map(str::to_owned).collect()
}

fn to_json<T: serde::Serialize>(value: &T, indent: Option<usize>) -> Result<String> {
    Ok(match indent {
        None => serde_json::to_string(value)?,
        Some(width) => {
            let indent = " ".repeat(width);
            let formatter = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
            let mut out = Vec::new();
            let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
            serde::Serialize::serialize(value, &mut serializer)?;
            String::from_utf8(out).expect("serde_json writes UTF-8")
        }
    })
}
