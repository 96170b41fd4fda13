//! The drill checks' ids, and which static findings make a walk impossible.

/// Checks that need a database, in the order a walk performs them.
pub const DRILL_CHECKS: &[&str] = &[
    "upgrade-failed",
    "downgrade-failed",
    "roundtrip-failed",
    "downgrade-leaves-trace",
    "data-dependent-failure",
    "not-idempotent",
    "model-drift",
];

/// Static findings after which Alembic itself cannot load the history: no step could run,
/// so the drills are skipped and these findings are the answer.
pub const STRUCTURAL_CHECKS: &[&str] = &[
    "cycle",
    "missing-parent",
    "duplicate-revision",
    "duplicate-branch-label",
    "script-error",
];
