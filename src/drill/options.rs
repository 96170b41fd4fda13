//! What a drill run is asked to do.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::checks::Check;
use super::hazards::DEFAULT_LOCK_MS;
use crate::finding::Severity;
use crate::graph::StaticCheck;

/// Rows a user supplies for one revision: table -> rows (column -> value).
pub type UserRows = BTreeMap<String, Vec<serde_json::Map<String, serde_json::Value>>>;

/// Synthetic rows per table for the data checks, unless the options say otherwise.
pub const DEFAULT_ROWS_PER_TABLE: usize = 3;

/// Every field is optional (the defaults below); an unknown field or check id is an error,
/// so a typo never silently turns something off.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DrillOptions {
    /// Drill checks to run.
    pub checks: BTreeSet<Check>,
    /// Static checks whose findings are left out of the report.
    pub skip_findings: BTreeSet<StaticCheck>,
    /// Revisions whose checks are skipped (they are still applied), with the reason.
    pub skip_revisions: BTreeMap<String, String>,
    /// Downgrades of this revision and its ancestors are not required: failures there
    /// are reported as info.
    pub oldest_downgrade: Option<String>,
    /// Rows present before a revision upgrades, per revision.
    pub seeds: BTreeMap<String, UserRows>,
    /// Synthetic rows per table for the data-dependent check.
    pub rows_per_table: usize,
    /// Run the project's bootstrap (tables made outside migrations) on fresh databases.
    pub bootstrap: bool,
    /// Findings a revision accepts: revision -> check id -> why. They are reported as
    /// info, with the reason, and fail nothing.
    pub accept: BTreeMap<String, BTreeMap<String, String>>,
    /// Severity of a check's findings instead of its own (`Check::severity`).
    pub severity: BTreeMap<Check, Severity>,
    /// Rows per table on the seeded database, where the production hazards are measured,
    /// when more than `rows_per_table` (to see what a rewrite or a scan costs).
    pub hazard_rows: Option<usize>,
    /// `exclusive-lock`: milliseconds an ACCESS EXCLUSIVE lock may be held.
    pub hazard_lock_ms: f64,
}

impl Default for DrillOptions {
    fn default() -> Self {
        DrillOptions {
            checks: Check::ALL.into_iter().collect(),
            skip_findings: BTreeSet::new(),
            skip_revisions: BTreeMap::new(),
            oldest_downgrade: None,
            seeds: BTreeMap::new(),
            rows_per_table: DEFAULT_ROWS_PER_TABLE,
            bootstrap: false,
            accept: BTreeMap::new(),
            severity: BTreeMap::new(),
            hazard_rows: None,
            hazard_lock_ms: DEFAULT_LOCK_MS,
        }
    }
}

impl DrillOptions {
    pub fn enabled(&self, check: Check) -> bool {
        self.checks.contains(&check)
    }

    /// Why the revision accepts findings of this check, if it does.
    pub fn accepted(&self, revision: &str, check: &str) -> Option<&str> {
        self.accept.get(revision)?.get(check).map(String::as_str)
    }

    /// The severity of `check`'s findings.
    pub fn severity(&self, check: Check) -> Severity {
        self.severity
            .get(&check)
            .copied()
            .unwrap_or(check.severity())
    }

    /// Rows per table on the seeded database.
    pub fn seeded_rows(&self) -> usize {
        self.rows_per_table.max(self.hazard_rows.unwrap_or(0))
    }

    /// Whether a finding of this static check stays in the report.
    pub fn reports(&self, finding_check: &str) -> bool {
        finding_check
            .parse::<StaticCheck>()
            .map_or(true, |check| !self.skip_findings.contains(&check))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_run_every_check() {
        let options: DrillOptions = serde_json::from_str("{}").unwrap();
        assert!(Check::ALL.into_iter().all(|c| options.enabled(c)));
        assert_eq!(options.rows_per_table, DEFAULT_ROWS_PER_TABLE);
    }

    #[test]
    fn a_misspelt_check_or_key_is_refused() {
        let typo = serde_json::from_str::<DrillOptions>(r#"{"checks": ["not-idempotant"]}"#);
        assert!(typo.unwrap_err().to_string().contains("not-idempotant"));
        let static_as_drill =
            serde_json::from_str::<DrillOptions>(r#"{"checks": ["multiple-heads"]}"#);
        assert!(static_as_drill.is_err());
        let key = serde_json::from_str::<DrillOptions>(r#"{"rows_per_tabel": 2}"#);
        assert!(key.unwrap_err().to_string().contains("rows_per_tabel"));
    }

    #[test]
    fn severity_and_hazard_rows_are_per_run() {
        let options: DrillOptions = serde_json::from_str(
            r#"{"severity": {"table-rewrite": "error"}, "hazard_rows": 10000}"#,
        )
        .unwrap();
        assert_eq!(options.severity(Check::TableRewrite), Severity::Error);
        assert_eq!(options.severity(Check::BlockingIndex), Severity::Warning);
        assert_eq!(options.seeded_rows(), 10000);
        let typo =
            serde_json::from_str::<DrillOptions>(r#"{"severity": {"table-rewrit": "error"}}"#);
        assert!(typo.is_err());
        let level =
            serde_json::from_str::<DrillOptions>(r#"{"severity": {"table-rewrite": "fatal"}}"#);
        assert!(level.is_err());
    }
}
