//! Builders shared by the graph tests.

use crate::finding::Finding;
use crate::revision::{BodyKind, FunctionInfo, RevisionMeta};

/// A healthy revision at `versions/{id}.py` with both functions implemented.
pub(crate) fn rev(id: &str, down: &[&str]) -> RevisionMeta {
    RevisionMeta {
        id: id.to_owned(),
        down_revisions: down.iter().map(|d| (*d).to_owned()).collect(),
        path: format!("versions/{id}.py"),
        revision_line: Some(10),
        down_revision_line: Some(11),
        depends_on_line: Some(13),
        upgrade: FunctionInfo {
            kind: BodyKind::Implemented,
            line: Some(20),
            ..FunctionInfo::default()
        },
        downgrade: FunctionInfo {
            kind: BodyKind::Implemented,
            line: Some(30),
            ..FunctionInfo::default()
        },
        ..RevisionMeta::default()
    }
}

pub(crate) fn labelled(mut meta: RevisionMeta, labels: &[&str]) -> RevisionMeta {
    meta.branch_labels = labels.iter().map(|l| (*l).to_owned()).collect();
    meta
}

pub(crate) fn deps(mut meta: RevisionMeta, on: &[&str]) -> RevisionMeta {
    meta.depends_on = on.iter().map(|d| (*d).to_owned()).collect();
    meta
}

pub(crate) fn bodies(
    mut meta: RevisionMeta,
    upgrade: BodyKind,
    downgrade: BodyKind,
) -> RevisionMeta {
    meta.upgrade.kind = upgrade;
    meta.downgrade.kind = downgrade;
    meta
}

/// a -> (b1 -> b2, c1) -> m
pub(crate) fn branched_and_merged() -> Vec<RevisionMeta> {
    vec![
        rev("a", &[]),
        rev("b1", &["a"]),
        rev("c1", &["a"]),
        rev("b2", &["b1"]),
        rev("m", &["b2", "c1"]),
    ]
}

pub(crate) fn codes(findings: &[Finding]) -> Vec<&str> {
    findings.iter().map(|f| f.check.as_str()).collect()
}

pub(crate) fn of<'a>(findings: &'a [Finding], check: &str) -> Vec<&'a Finding> {
    findings.iter().filter(|f| f.check == check).collect()
}
