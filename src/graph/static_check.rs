//! The static checks' vocabulary: every finding `lint` can report, by id.
//!
//! A sibling of the drill's `Check` rather than one enum for both: static checks run on
//! the graph alone (this floor cannot see the drill above it), they have no database
//! scope, and a drill selection (`DrillOptions.checks`) must not be able to name one.

use serde::{Deserialize, Serialize};

use crate::finding::{Severity, check_ids};

/// One static check of the revision graph and its scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StaticCheck {
    MultipleHeads,
    MultipleBases,
    MissingParent,
    Cycle,
    DuplicateRevision,
    DuplicateBranchLabel,
    StubDowngrade,
    StubUpgrade,
    Irreversible,
    ScriptError,
    DropColumn,
    DropTable,
    RenameColumn,
    RenameTable,
    NotNullWithoutDefault,
    EnumValueAdded,
    RawSqlWithoutReverse,
    IndexWithoutConcurrently,
    TypeChange,
}

impl StaticCheck {
    /// Every static check, in the order `lint` documents them.
    pub const ALL: [StaticCheck; 19] = [
        StaticCheck::MultipleHeads,
        StaticCheck::MultipleBases,
        StaticCheck::MissingParent,
        StaticCheck::Cycle,
        StaticCheck::DuplicateRevision,
        StaticCheck::DuplicateBranchLabel,
        StaticCheck::StubDowngrade,
        StaticCheck::StubUpgrade,
        StaticCheck::Irreversible,
        StaticCheck::ScriptError,
        StaticCheck::DropColumn,
        StaticCheck::DropTable,
        StaticCheck::RenameColumn,
        StaticCheck::RenameTable,
        StaticCheck::NotNullWithoutDefault,
        StaticCheck::EnumValueAdded,
        StaticCheck::RawSqlWithoutReverse,
        StaticCheck::IndexWithoutConcurrently,
        StaticCheck::TypeChange,
    ];

    /// The stable id findings and settings use (the serde name).
    pub const fn id(self) -> &'static str {
        match self {
            StaticCheck::MultipleHeads => "multiple-heads",
            StaticCheck::MultipleBases => "multiple-bases",
            StaticCheck::MissingParent => "missing-parent",
            StaticCheck::Cycle => "cycle",
            StaticCheck::DuplicateRevision => "duplicate-revision",
            StaticCheck::DuplicateBranchLabel => "duplicate-branch-label",
            StaticCheck::StubDowngrade => "stub-downgrade",
            StaticCheck::StubUpgrade => "stub-upgrade",
            StaticCheck::Irreversible => "irreversible",
            StaticCheck::ScriptError => "script-error",
            StaticCheck::DropColumn => "drop-column",
            StaticCheck::DropTable => "drop-table",
            StaticCheck::RenameColumn => "rename-column",
            StaticCheck::RenameTable => "rename-table",
            StaticCheck::NotNullWithoutDefault => "not-null-without-default",
            StaticCheck::EnumValueAdded => "enum-value-added",
            StaticCheck::RawSqlWithoutReverse => "raw-sql-without-reverse",
            StaticCheck::IndexWithoutConcurrently => "index-without-concurrently",
            StaticCheck::TypeChange => "type-change",
        }
    }

    /// The severity of this check's findings.
    ///
    /// The operation checks are never errors: what they find can be intended (a drop, a
    /// rename), and whether it hurts depends on the rows and the traffic of the user's
    /// database, which a script cannot show. `index-without-concurrently` is only advice:
    /// the lock it warns of matters on PostgreSQL, for large tables in use.
    pub const fn severity(self) -> Severity {
        match self {
            StaticCheck::MultipleBases
            | StaticCheck::StubUpgrade
            | StaticCheck::DropColumn
            | StaticCheck::DropTable
            | StaticCheck::RenameColumn
            | StaticCheck::RenameTable
            | StaticCheck::NotNullWithoutDefault
            | StaticCheck::EnumValueAdded
            | StaticCheck::RawSqlWithoutReverse
            | StaticCheck::TypeChange => Severity::Warning,
            StaticCheck::Irreversible | StaticCheck::IndexWithoutConcurrently => Severity::Info,
            StaticCheck::MultipleHeads
            | StaticCheck::MissingParent
            | StaticCheck::Cycle
            | StaticCheck::DuplicateRevision
            | StaticCheck::DuplicateBranchLabel
            | StaticCheck::StubDowngrade
            | StaticCheck::ScriptError => Severity::Error,
        }
    }

    /// True for the checks that read a script's operations (`op.*` calls), reported by
    /// the loader and carried in [`crate::revision::OperationNote`].
    pub const fn is_operation(self) -> bool {
        matches!(
            self,
            StaticCheck::DropColumn
                | StaticCheck::DropTable
                | StaticCheck::RenameColumn
                | StaticCheck::RenameTable
                | StaticCheck::NotNullWithoutDefault
                | StaticCheck::EnumValueAdded
                | StaticCheck::RawSqlWithoutReverse
                | StaticCheck::IndexWithoutConcurrently
                | StaticCheck::TypeChange
        )
    }

    /// True when Alembic itself cannot load a history with this finding: no step could
    /// run, so the drills are skipped and these findings are the answer.
    pub const fn is_structural(self) -> bool {
        matches!(
            self,
            StaticCheck::Cycle
                | StaticCheck::MissingParent
                | StaticCheck::DuplicateRevision
                | StaticCheck::DuplicateBranchLabel
                | StaticCheck::ScriptError
        )
    }
}

check_ids!(StaticCheck);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_serde_names_and_parse_back() {
        for check in StaticCheck::ALL {
            assert_eq!(
                serde_json::to_string(&check).unwrap(),
                format!("\"{}\"", check.id())
            );
            assert_eq!(check.id().parse::<StaticCheck>(), Ok(check));
        }
    }

    #[test]
    fn an_unknown_id_is_an_error_naming_the_known_ones() {
        let error = "multiple-head".parse::<StaticCheck>().unwrap_err();
        assert_eq!(error.given, "multiple-head");
        assert!(error.to_string().contains("multiple-heads, multiple-bases"));
        assert!(serde_json::from_str::<StaticCheck>("\"stub\"").is_err());
    }

    #[test]
    fn operation_checks_are_never_errors() {
        let operations: Vec<StaticCheck> = StaticCheck::ALL
            .into_iter()
            .filter(|c| c.is_operation())
            .collect();
        assert_eq!(operations.len(), 9);
        for check in operations {
            assert_ne!(check.severity(), Severity::Error, "{check}");
            assert!(!check.is_structural(), "{check}");
        }
        assert_eq!(StaticCheck::DropColumn.severity(), Severity::Warning);
        assert_eq!(
            StaticCheck::IndexWithoutConcurrently.severity(),
            Severity::Info
        );
    }
}
