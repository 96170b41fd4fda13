//! The drill checks' vocabulary: what a walk can find on a database, by id.

use serde::{Deserialize, Serialize};

use crate::finding::{Severity, check_ids};

/// One check that needs a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    UpgradeFailed,
    DowngradeFailed,
    RoundtripFailed,
    DowngradeLeavesTrace,
    DataDependentFailure,
    DestroysData,
    DowngradeLosesData,
    NotIdempotent,
    // -- production hazards (measured on the seeded upgrade; see hazards.rs) --
    TableRewrite,
    BlockingIndex,
    ValidatingConstraint,
    NotNullScan,
    ExclusiveLock,
    // -- at head --
    ModelDrift,
}

/// Where a drill check runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Once for every revision of the walk.
    Revision,
    /// Once, on the database at head, after the walk.
    Head,
}

impl Scope {
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Revision => "revision",
            Scope::Head => "head",
        }
    }
}

impl Check {
    /// Every drill check, in the order a walk performs them.
    pub const ALL: [Check; 14] = [
        Check::UpgradeFailed,
        Check::DowngradeFailed,
        Check::RoundtripFailed,
        Check::DowngradeLeavesTrace,
        Check::DataDependentFailure,
        Check::DestroysData,
        Check::DowngradeLosesData,
        Check::NotIdempotent,
        // production hazards
        Check::TableRewrite,
        Check::BlockingIndex,
        Check::ValidatingConstraint,
        Check::NotNullScan,
        Check::ExclusiveLock,
        // at head
        Check::ModelDrift,
    ];

    /// The stable id findings, reports and settings use (the serde name).
    pub const fn id(self) -> &'static str {
        match self {
            Check::UpgradeFailed => "upgrade-failed",
            Check::DowngradeFailed => "downgrade-failed",
            Check::RoundtripFailed => "roundtrip-failed",
            Check::DowngradeLeavesTrace => "downgrade-leaves-trace",
            Check::DataDependentFailure => "data-dependent-failure",
            Check::DestroysData => "destroys-data",
            Check::DowngradeLosesData => "downgrade-loses-data",
            Check::NotIdempotent => "not-idempotent",
            // production hazards
            Check::TableRewrite => "table-rewrite",
            Check::BlockingIndex => "blocking-index",
            Check::ValidatingConstraint => "validating-constraint",
            Check::NotNullScan => "not-null-scan",
            Check::ExclusiveLock => "exclusive-lock",
            Check::ModelDrift => "model-drift",
        }
    }

    pub const fn scope(self) -> Scope {
        match self {
            Check::ModelDrift => Scope::Head,
            _ => Scope::Revision,
        }
    }

    /// The severity of this check's findings, unless the walk knows better (a downgrade
    /// declared irreversible, or below the oldest one required, fails as info) or the
    /// options say otherwise (`severity`). A production hazard is a warning: the step
    /// works, it may only block production's traffic for a while. Destroying data is
    /// often intended: it is a warning until the revision says so.
    pub const fn severity(self) -> Severity {
        if self.is_hazard() || matches!(self, Check::DestroysData) {
            Severity::Warning
        } else {
            Severity::Error
        }
    }

    /// A production hazard, measured while the seeded upgrade runs (see hazards.rs).
    pub const fn is_hazard(self) -> bool {
        matches!(
            self,
            Check::TableRewrite
                | Check::BlockingIndex
                | Check::ValidatingConstraint
                | Check::NotNullScan
                | Check::ExclusiveLock
        )
    }

    /// The checks that run once per revision, in walk order.
    pub fn per_revision() -> impl Iterator<Item = Check> {
        Check::ALL
            .into_iter()
            .filter(|c| c.scope() == Scope::Revision)
    }
}

check_ids!(Check);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_serde_names_and_parse_back() {
        for check in Check::ALL {
            assert_eq!(
                serde_json::to_string(&check).unwrap(),
                format!("\"{}\"", check.id())
            );
            assert_eq!(check.id().parse::<Check>(), Ok(check));
        }
    }

    #[test]
    fn a_typo_is_an_error_not_a_check_turned_off() {
        let error = "not-idempotant".parse::<Check>().unwrap_err();
        assert!(error.to_string().contains("\"not-idempotant\""), "{error}");
        assert!(serde_json::from_str::<Check>("\"model_drift\"").is_err());
    }

    #[test]
    fn only_model_drift_runs_at_head() {
        let at_head: Vec<Check> = Check::ALL
            .into_iter()
            .filter(|c| c.scope() == Scope::Head)
            .collect();
        assert_eq!(at_head, [Check::ModelDrift]);
        assert_eq!(Check::per_revision().count(), Check::ALL.len() - 1);
    }
}
