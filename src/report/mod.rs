//! The result of `check`: findings from the static checks and the drills, what ran, how
//! long each step took and on which database. Serialised as JSON, rendered as JUnit XML.

mod json;
mod junit;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::finding::{Finding, sort_findings};
use crate::history::Summary;

pub use json::to_python_json;
pub use junit::to_junit;

/// One Alembic step the drill ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepTiming {
    /// `upgrade` or `downgrade`.
    pub direction: String,
    pub revision: String,
    /// What the step was for: `walk`, `roundtrip`, `seeded`, `replay`, ...
    pub purpose: String,
    pub seconds: f64,
    pub ok: bool,
    /// Connections the step opened: 1 when env.py used the one handed over.
    pub connections: u32,
}

/// Where a run's time went: one activity (`snapshot`, `seed`, `clone`, `step`, ...)
/// summed over the whole walk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseTiming {
    pub count: u32,
    pub seconds: f64,
}

/// A check that ran for a revision (or for the whole history when `revision` is None),
/// so a report can list passes as well as failures (JUnit test cases, pytest items).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRun {
    pub check: String,
    pub revision: Option<String>,
    /// Set when the check was skipped, with the reason.
    pub skipped: Option<String>,
}

/// Everything `check` found.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DrillReport {
    pub config_file: String,
    /// The database the drills ran on (password masked), and why it was chosen.
    pub database: String,
    pub database_reason: Option<String>,
    pub revisions: usize,
    pub summary: Summary,
    pub findings: Vec<Finding>,
    pub checks: Vec<CheckRun>,
    pub steps: Vec<StepTiming>,
    /// Time by activity, to show where a slow run spends it.
    pub phases: BTreeMap<String, PhaseTiming>,
    pub seconds: f64,
    /// True when no finding has error severity (set by [`DrillReport::finish`]).
    #[serde(default)]
    pub ok: bool,
}

impl DrillReport {
    /// Sorts the findings, recounts the summary and decides `ok`: call once everything
    /// is in.
    pub fn finish(&mut self) {
        sort_findings(&mut self.findings);
        self.summary = Summary::of(&self.findings);
        self.ok = self.summary.errors == 0;
    }

    /// Adds `seconds` spent in `phase`.
    pub fn add_phase(&mut self, phase: &str, seconds: f64) {
        let entry = self.phases.entry(phase.to_owned()).or_default();
        entry.count += 1;
        entry.seconds += seconds;
    }

    /// Findings of one check for one revision.
    pub fn findings_for<'a>(
        &'a self,
        check: &'a str,
        revision: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings
            .iter()
            .filter(move |f| f.check == check && f.revision.as_deref() == revision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Severity;

    #[test]
    fn ok_is_serialized_last_and_follows_the_errors() {
        let mut report = DrillReport::default();
        report.finish();
        assert!(report.ok);
        report
            .findings
            .push(Finding::new("upgrade-failed", Severity::Error, "boom"));
        report.finish();
        assert!(!report.ok);
        let json = serde_json::to_string(&report).unwrap();
        assert!(json.ends_with(r#""seconds":0.0,"ok":false}"#), "{json}");
    }
}
