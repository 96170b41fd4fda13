//! Findings: what every check, static or on a database, reports.

use serde::{Deserialize, Serialize};

/// How bad a finding is. Error findings make a command exit with status 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem (or notable fact) about the history, tied to a revision and a file where known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable check id, e.g. `multiple-heads`.
    pub check: String,
    pub severity: Severity,
    pub revision: Option<String>,
    pub path: Option<String>,
    pub line: Option<u32>,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl Finding {
    pub fn new(check: &str, severity: Severity, message: impl Into<String>) -> Self {
        Finding {
            check: check.to_owned(),
            severity,
            revision: None,
            path: None,
            line: None,
            message: message.into(),
        }
    }

    pub fn at(mut self, revision: Option<&str>, path: Option<&str>, line: Option<u32>) -> Self {
        self.revision = revision.map(str::to_owned);
        self.path = path.map(str::to_owned);
        self.line = line;
        self
    }
}

/// Sorts findings most severe first, then by file and line, so reports read the same every run.
pub fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.path.cmp(&b.path))
            .then_with(|| a.line.cmp(&b.line))
            .then_with(|| a.check.cmp(&b.check))
            .then_with(|| a.revision.cmp(&b.revision))
    });
}

/// A check id that names no check. Parsing one is an error, so a typo in a selection
/// never silently turns a check off.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown check {given:?}; known: {}", known.join(", "))]
pub struct UnknownCheck {
    pub given: String,
    /// The ids the parser knows.
    pub known: Vec<&'static str>,
}

/// `FromStr` (an unknown id is an [`UnknownCheck`] naming the known ones) and `Display`
/// (the id) for a check vocabulary: an enum with `ALL` and `const fn id(self)`. Both the
/// drill's `Check` and the graph's `StaticCheck` are one.
macro_rules! check_ids {
    ($vocabulary:ty) => {
        impl ::std::str::FromStr for $vocabulary {
            type Err = $crate::finding::UnknownCheck;

            fn from_str(id: &str) -> Result<Self, $crate::finding::UnknownCheck> {
                <$vocabulary>::ALL
                    .into_iter()
                    .find(|c| c.id() == id)
                    .ok_or_else(|| $crate::finding::UnknownCheck {
                        given: id.to_owned(),
                        known: <$vocabulary>::ALL.map(<$vocabulary>::id).to_vec(),
                    })
            }
        }

        impl ::std::fmt::Display for $vocabulary {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.id())
            }
        }
    };
}
pub(crate) use check_ids;
