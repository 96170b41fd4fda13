//! What a drill run is asked to do.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::checks::DRILL_CHECKS;

/// Rows a user supplies for one revision: table -> rows (column -> value).
pub type UserRows = BTreeMap<String, Vec<serde_json::Map<String, serde_json::Value>>>;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DrillOptions {
    /// Drill checks to run (ids from [`DRILL_CHECKS`]).
    pub checks: BTreeSet<String>,
    /// Static checks whose findings are left out of the report.
    pub skip_findings: BTreeSet<String>,
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
}

impl Default for DrillOptions {
    fn default() -> Self {
        DrillOptions {
            checks: DRILL_CHECKS.iter().map(|c| (*c).to_owned()).collect(),
            skip_findings: BTreeSet::new(),
            skip_revisions: BTreeMap::new(),
            oldest_downgrade: None,
            seeds: BTreeMap::new(),
            rows_per_table: 3,
            bootstrap: false,
        }
    }
}

impl DrillOptions {
    pub fn enabled(&self, check: &str) -> bool {
        self.checks.contains(check)
    }
}
