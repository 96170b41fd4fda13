//! A loaded Alembic history: the project's files, its revision graph and what the static
//! checks found. The Python loader fills a [`LoadedProject`]; everything from there on is
//! plain Rust.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::finding::{Finding, Severity, sort_findings};
use crate::graph::{RevisionGraph, script_error_findings};
use crate::render::{Format, RenderNode, render};
use crate::revision::{RevisionMeta, ScriptError};

/// What the loader hands over: where the project is and every script it tried to load.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoadedProject {
    /// The alembic.ini (or pyproject.toml) the configuration came from.
    pub config_file: String,
    /// The migration environment folder (holding env.py).
    pub script_location: String,
    #[serde(default)]
    pub version_locations: Vec<String>,
    #[serde(default)]
    pub revisions: Vec<RevisionMeta>,
    #[serde(default)]
    pub errors: Vec<ScriptError>,
}

/// The project, its graph and its static findings.
#[derive(Debug)]
pub struct History {
    pub config_file: String,
    pub script_location: String,
    pub version_locations: Vec<String>,
    pub graph: RevisionGraph,
    pub findings: Vec<Finding>,
}

/// Counts of findings by severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    pub info: usize,
}

impl Summary {
    pub fn of(findings: &[Finding]) -> Summary {
        let mut summary = Summary::default();
        for finding in findings {
            match finding.severity {
                Severity::Error => summary.errors += 1,
                Severity::Warning => summary.warnings += 1,
                Severity::Info => summary.info += 1,
            }
        }
        summary
    }
}

/// The `lint --json` document.
#[derive(Debug, Clone, Serialize)]
pub struct LintReport<'a> {
    pub config_file: &'a str,
    pub script_location: &'a str,
    pub revisions: usize,
    pub heads: Vec<&'a str>,
    pub bases: Vec<&'a str>,
    pub summary: Summary,
    pub findings: &'a [Finding],
    /// True when no finding has error severity.
    pub ok: bool,
}

/// One revision in the `graph --format json` document.
#[derive(Debug, Clone, Serialize)]
pub struct RevisionEntry<'a> {
    pub id: &'a str,
    pub parents: &'a [String],
    pub depends_on: &'a [String],
    pub branch_labels: &'a [String],
    pub children: Vec<&'a str>,
    pub path: &'a str,
    pub doc: Option<&'a str>,
    pub is_head: bool,
    pub is_base: bool,
    pub is_merge: bool,
    pub is_branch_point: bool,
    pub findings: Vec<&'a Finding>,
}

/// The `graph --format json` document: revisions in order, base first.
#[derive(Debug, Clone, Serialize)]
pub struct GraphReport<'a> {
    pub config_file: &'a str,
    pub heads: Vec<&'a str>,
    pub bases: Vec<&'a str>,
    pub revisions: Vec<RevisionEntry<'a>>,
}

impl History {
    /// Builds the graph and runs every static check. Never fails: a broken history is
    /// described by its findings.
    pub fn analyze(loaded: LoadedProject) -> History {
        let graph = RevisionGraph::build(loaded.revisions);
        let mut findings = script_error_findings(&loaded.errors);
        findings.extend(graph.check());
        sort_findings(&mut findings);
        History {
            config_file: loaded.config_file,
            script_location: loaded.script_location,
            version_locations: loaded.version_locations,
            graph,
            findings,
        }
    }

    pub fn summary(&self) -> Summary {
        Summary::of(&self.findings)
    }

    /// True when no finding is an error.
    pub fn ok(&self) -> bool {
        self.summary().errors == 0
    }

    pub fn lint_report(&self) -> LintReport<'_> {
        LintReport {
            config_file: &self.config_file,
            script_location: &self.script_location,
            revisions: self.graph.len(),
            heads: self.graph.heads(),
            bases: self.graph.bases(),
            summary: self.summary(),
            findings: &self.findings,
            ok: self.ok(),
        }
    }

    pub fn graph_report(&self) -> GraphReport<'_> {
        let by_revision = self.findings_by_revision();
        let heads: HashSet<&str> = self.graph.heads().into_iter().collect();
        let revisions = self
            .graph
            .order()
            .into_iter()
            .filter_map(|id| self.graph.get(id))
            .map(|rev| {
                let children = self.graph.children(&rev.id);
                RevisionEntry {
                    id: &rev.id,
                    parents: &rev.down_revisions,
                    depends_on: &rev.depends_on,
                    branch_labels: &rev.branch_labels,
                    is_head: heads.contains(rev.id.as_str()),
                    is_base: rev.is_base(),
                    is_merge: rev.is_merge(),
                    is_branch_point: children.len() > 1,
                    children,
                    path: &rev.path,
                    doc: rev.doc.as_deref(),
                    findings: by_revision
                        .get(rev.id.as_str())
                        .cloned()
                        .unwrap_or_default(),
                }
            })
            .collect();
        GraphReport {
            config_file: &self.config_file,
            heads: self.graph.heads(),
            bases: self.graph.bases(),
            revisions,
        }
    }

    /// Draws the history; revisions with findings are flagged with their worst severity.
    pub fn render(&self, format: Format) -> String {
        let by_revision = self.findings_by_revision();
        let heads: HashSet<&str> = self.graph.heads().into_iter().collect();
        let nodes: Vec<RenderNode> = self
            .graph
            .order()
            .into_iter()
            .filter_map(|id| self.graph.get(id))
            .map(|rev| RenderNode {
                id: rev.id.clone(),
                parents: rev.down_revisions.clone(),
                depends_on: self
                    .graph
                    .dependencies(&rev.id)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                branch_labels: rev.branch_labels.clone(),
                doc: rev.doc.clone(),
                is_head: heads.contains(rev.id.as_str()),
                is_base: rev.is_base(),
                is_merge: rev.is_merge(),
                is_branch_point: self.graph.children(&rev.id).len() > 1,
                flagged: by_revision.get(rev.id.as_str()).and_then(|found| {
                    found
                        .iter()
                        .map(|f| f.severity)
                        .max()
                        .map(|s| s.as_str().to_owned())
                }),
            })
            .collect();
        render(&nodes, format)
    }

    fn findings_by_revision(&self) -> BTreeMap<&str, Vec<&Finding>> {
        let mut map: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
        for finding in &self.findings {
            if let Some(rev) = finding.revision.as_deref() {
                map.entry(rev).or_default().push(finding);
            }
        }
        map
    }
}
