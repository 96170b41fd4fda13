//! The walk over real SQLite files, driven by a host that runs plain SQL (no Python).

mod sqlite_host;

use std::sync::Arc;

use tokio::sync::Mutex;

use self::sqlite_host::{Script, SqliteHost};
use super::{Check, Direction, DrillError, DrillOptions, run_drill};
use crate::finding::Severity;
use crate::history::{History, LoadedProject};
use crate::report::DrillReport;
use crate::revision::{BodyKind, FunctionInfo, RevisionMeta};
use crate::servers::{DatabaseSpec, Server, StartOptions};

fn revision(id: &str, down: &[&str]) -> RevisionMeta {
    RevisionMeta {
        id: id.to_owned(),
        down_revisions: down.iter().map(|d| (*d).to_owned()).collect(),
        path: format!("versions/{id}.py"),
        revision_line: Some(5),
        upgrade: FunctionInfo {
            kind: BodyKind::Implemented,
            line: Some(10),
            ..FunctionInfo::default()
        },
        downgrade: FunctionInfo {
            kind: BodyKind::Implemented,
            line: Some(20),
            ..FunctionInfo::default()
        },
        ..RevisionMeta::default()
    }
}

/// A linear history: each revision builds on the one before.
fn linear(ids: &[&str]) -> History {
    let revisions = ids
        .iter()
        .enumerate()
        .map(|(i, id)| revision(id, if i == 0 { &[] } else { &ids[i - 1..i] }))
        .collect();
    History::analyze(LoadedProject {
        config_file: "alembic.ini".to_owned(),
        script_location: "migrations".to_owned(),
        version_locations: Vec::new(),
        revisions,
        errors: Vec::new(),
    })
}

fn script(upgrade: &[&'static str], downgrade: &[&'static str]) -> Script {
    Script {
        upgrade: upgrade.to_vec(),
        downgrade: downgrade.to_vec(),
    }
}

const CREATE_BOOKS: &str = "CREATE TABLE books (id INTEGER PRIMARY KEY, title TEXT NOT NULL)";
const DROP_BOOKS: &str = "DROP TABLE books";
const CREATE_NOTES: &str = "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)";

/// Runs the walk on a fresh SQLite server; returns the report, the host and whether the
/// walk left no database behind.
fn drill(
    history: &History,
    host: &mut SqliteHost,
    options: &DrillOptions,
) -> (Result<DrillReport, DrillError>, bool) {
    let runtime = crate::runtime::runtime().expect("a runtime");
    let server = runtime
        .block_on(Server::start(
            &DatabaseSpec::Sqlite,
            &StartOptions::default(),
        ))
        .expect("a SQLite server");
    let server = Arc::new(Mutex::new(server));
    let result = run_drill(history, Arc::clone(&server), host, options);
    let clean = runtime.block_on(async {
        let mut server = server.lock().await;
        let left = server.list_databases().await.expect("listed");
        server.stop().await.expect("stopped");
        left.is_empty()
    });
    (result, clean)
}

fn ran(report: &DrillReport, check: Check, revision: &str) -> Option<Option<String>> {
    report
        .checks
        .iter()
        .find(|run| run.check == check.id() && run.revision.as_deref() == Some(revision))
        .map(|run| run.skipped.clone())
}

#[test]
fn a_clean_history_passes_every_check_it_can_run() {
    let history = linear(&["a1", "b2"]);
    let mut host = SqliteHost::new([
        ("a1", script(&[CREATE_BOOKS], &[DROP_BOOKS])),
        (
            "b2",
            script(
                &[
                    "ALTER TABLE books ADD COLUMN price INTEGER",
                    "UPDATE books SET price = 0 WHERE price IS NULL",
                ],
                &["ALTER TABLE books DROP COLUMN price"],
            ),
        ),
    ]);
    let (report, clean) = drill(&history, &mut host, &DrillOptions::default());
    let report = report.expect("the walk completes");
    assert!(clean, "the walk drops every database it made");
    assert!(
        report.ok && report.findings.is_empty(),
        "{:?}",
        report.findings
    );
    for check in [
        Check::UpgradeFailed,
        Check::DowngradeFailed,
        Check::DowngradeLeavesTrace,
        Check::RoundtripFailed,
    ] {
        assert_eq!(ran(&report, check, "a1"), Some(None), "{check} on a1");
        assert_eq!(ran(&report, check, "b2"), Some(None), "{check} on b2");
    }
    // Nothing to seed before the first table exists; b2 meets seeded rows.
    assert!(matches!(
        ran(&report, Check::DataDependentFailure, "a1"),
        Some(Some(reason)) if reason.contains("nothing to seed")
    ));
    assert_eq!(ran(&report, Check::DataDependentFailure, "b2"), Some(None));
    // b2's UPDATE converges: replaying it changes nothing; its downgrade drops only what
    // it added, and it drops nothing.
    for check in [Check::NotIdempotent, Check::DowngradeLosesData] {
        assert_eq!(ran(&report, check, "b2"), Some(None), "{check} on b2");
    }
    // b2 migrates data itself: where a dropped value would go is not judged.
    assert!(matches!(
        ran(&report, Check::DestroysData, "b2"),
        Some(Some(reason)) if reason.contains("migrates data itself")
    ));
    let drift = report
        .checks
        .iter()
        .find(|run| run.check == Check::ModelDrift.id())
        .expect("model-drift is accounted for");
    assert_eq!(
        drift.skipped.as_deref(),
        Some("the SQLite test host has no models")
    );
    // Each revision: upgrade, downgrade, upgrade again on the main database; b2 the same
    // on the seeded one.
    let b2_steps = host.steps.iter().filter(|(_, rev)| rev == "b2").count();
    assert_eq!(b2_steps, 6, "{:?}", host.steps);
    assert!(host.activities.iter().any(|a| a == "seeding"));
}

#[test]
fn a_downgrade_that_leaves_a_column_is_a_trace() {
    let history = linear(&["a1", "b2"]);
    let mut host = SqliteHost::new([
        ("a1", script(&[CREATE_BOOKS], &[DROP_BOOKS])),
        (
            "b2",
            script(
                &["ALTER TABLE books ADD COLUMN price INTEGER"],
                &["SELECT 1"],
            ),
        ),
    ]);
    let (report, clean) = drill(&history, &mut host, &DrillOptions::default());
    let report = report.expect("the walk completes");
    assert!(clean);
    assert!(!report.ok);
    let trace: Vec<_> = report
        .findings_for(Check::DowngradeLeavesTrace.id(), Some("b2"))
        .collect();
    assert_eq!(trace.len(), 1, "{:?}", report.findings);
    assert_eq!(trace[0].severity, Severity::Error);
    assert!(trace[0].message.contains("price"), "{}", trace[0].message);
    assert_eq!(trace[0].line, Some(20), "points at downgrade()");
    // Upgrading again adds the column a second time.
    assert_eq!(
        report
            .findings_for(Check::RoundtripFailed.id(), Some("b2"))
            .count(),
        1
    );
    assert_eq!(
        report
            .findings_for(Check::DowngradeLeavesTrace.id(), Some("a1"))
            .count(),
        0
    );
}

#[test]
fn a_failing_upgrade_stops_its_descendants() {
    let history = linear(&["a1", "b2", "c3"]);
    let mut host = SqliteHost::new([
        ("a1", script(&[CREATE_BOOKS], &[DROP_BOOKS])),
        (
            "b2",
            script(
                &["ALTER TABLE authors ADD COLUMN born INTEGER"],
                &["SELECT 1"],
            ),
        ),
        (
            "c3",
            script(
                &["CREATE TABLE shelves (id INTEGER)"],
                &["DROP TABLE shelves"],
            ),
        ),
    ]);
    let (report, clean) = drill(&history, &mut host, &DrillOptions::default());
    let report = report.expect("a failing migration is a finding, not an error");
    assert!(clean);
    let failed: Vec<_> = report
        .findings_for(Check::UpgradeFailed.id(), Some("b2"))
        .collect();
    assert_eq!(failed.len(), 1, "{:?}", report.findings);
    assert!(
        failed[0].message.contains("authors"),
        "{}",
        failed[0].message
    );
    assert_eq!(failed[0].line, Some(10), "points at upgrade()");
    assert!(matches!(
        ran(&report, Check::UpgradeFailed, "c3"),
        Some(Some(reason)) if reason == "not reached: b2 did not upgrade"
    ));
    assert!(
        !host.steps.iter().any(|(_, rev)| rev == "c3"),
        "c3 never runs"
    );
    assert!(
        !host
            .steps
            .iter()
            .any(|(direction, rev)| *direction == Direction::Downgrade && rev == "b2")
    );
    let drift = report
        .checks
        .iter()
        .find(|run| run.check == Check::ModelDrift.id())
        .and_then(|run| run.skipped.clone())
        .unwrap_or_default();
    assert!(drift.contains("does not reach its heads"), "{drift}");
}

#[test]
fn a_data_statement_that_repeats_is_not_idempotent() {
    let history = linear(&["a1", "b2"]);
    let mut host = SqliteHost::new([
        ("a1", script(&[CREATE_BOOKS], &[DROP_BOOKS])),
        (
            "b2",
            script(
                &["INSERT INTO books (title) VALUES ('Dune')"],
                &["DELETE FROM books WHERE title = 'Dune'"],
            ),
        ),
    ]);
    let (report, clean) = drill(&history, &mut host, &DrillOptions::default());
    let report = report.expect("the walk completes");
    assert!(clean);
    let repeated: Vec<_> = report
        .findings_for(Check::NotIdempotent.id(), Some("b2"))
        .collect();
    assert_eq!(repeated.len(), 1, "{:?}", report.findings);
    assert!(repeated[0].message.contains("changes the data"));
}

#[test]
fn only_the_selected_checks_run() {
    let history = linear(&["a1"]);
    let mut host = SqliteHost::new([("a1", script(&[CREATE_BOOKS], &[DROP_BOOKS]))]);
    let options = DrillOptions {
        checks: [Check::UpgradeFailed].into_iter().collect(),
        ..DrillOptions::default()
    };
    let (report, _) = drill(&history, &mut host, &options);
    let report = report.expect("the walk completes");
    let checks: Vec<&str> = report.checks.iter().map(|run| run.check.as_str()).collect();
    assert_eq!(checks, ["upgrade-failed"]);
    assert_eq!(host.steps, [(Direction::Upgrade, "a1".to_owned())]);
}

#[test]
fn a_host_failure_stops_the_walk_as_a_host_error() {
    let history = linear(&["a1", "b2"]);
    // b2 has no script: the host cannot run it.
    let mut host = SqliteHost::new([("a1", script(&[CREATE_BOOKS], &[DROP_BOOKS]))]);
    let (report, _) = drill(&history, &mut host, &DrillOptions::default());
    match report {
        Err(DrillError::Host(error)) => assert_eq!(error.to_string(), "no revision \"b2\""),
        other => panic!("expected a host error, got {other:?}"),
    }
}

#[test]
fn a_downgrade_that_brings_a_dropped_column_back_empty_loses_its_data() {
    let history = linear(&["a1", "b2"]);
    let mut host = SqliteHost::new([
        ("a1", script(&[CREATE_NOTES], &["DROP TABLE notes"])),
        (
            "b2",
            script(
                &["ALTER TABLE notes DROP COLUMN body"],
                &["ALTER TABLE notes ADD COLUMN body TEXT"],
            ),
        ),
    ]);
    let (report, clean) = drill(&history, &mut host, &DrillOptions::default());
    let report = report.expect("the walk completes");
    assert!(clean);
    let lost: Vec<_> = report
        .findings_for(Check::DowngradeLosesData.id(), Some("b2"))
        .collect();
    assert_eq!(lost.len(), 1, "{:?}", report.findings);
    assert_eq!(lost[0].severity, Severity::Error);
    assert_eq!(lost[0].line, Some(20), "points at downgrade()");
    assert!(
        lost[0]
            .message
            .contains("notes: column body differs in 3 of 3 rows (e.g. 'body_"),
        "{}",
        lost[0].message
    );
    let destroyed: Vec<_> = report
        .findings_for(Check::DestroysData.id(), Some("b2"))
        .collect();
    assert_eq!(destroyed.len(), 1, "{:?}", report.findings);
    assert_eq!(destroyed[0].severity, Severity::Warning);
    assert!(
        destroyed[0]
            .message
            .contains("column body of notes dropped with values in 3 rows"),
        "{}",
        destroyed[0].message
    );
    // The schema itself came back: only the data is missing.
    assert_eq!(
        report
            .findings_for(Check::DowngradeLeavesTrace.id(), Some("b2"))
            .count(),
        0
    );
    // The replay runs after the seeded round trip: not hidden by it.
    assert_eq!(ran(&report, Check::NotIdempotent, "b2"), Some(None));
}

#[test]
fn a_copy_then_drop_with_a_restoring_downgrade_is_clean() {
    let history = linear(&["a1", "b2"]);
    let mut host = SqliteHost::new([
        ("a1", script(&[CREATE_NOTES], &["DROP TABLE notes"])),
        (
            "b2",
            script(
                &[
                    "ALTER TABLE notes ADD COLUMN text TEXT",
                    "UPDATE notes SET text = body",
                    "ALTER TABLE notes DROP COLUMN body",
                ],
                &[
                    "ALTER TABLE notes ADD COLUMN body TEXT",
                    "UPDATE notes SET body = text",
                    "ALTER TABLE notes DROP COLUMN text",
                ],
            ),
        ),
    ]);
    // This host replays captured statements blindly (the Python host skips a replay of a
    // revision that mixes DDL with data): the replay is left out.
    let mut options = DrillOptions::default();
    options.checks.remove(&Check::NotIdempotent);
    let (report, clean) = drill(&history, &mut host, &options);
    let report = report.expect("the walk completes");
    assert!(clean);
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_eq!(ran(&report, Check::DowngradeLosesData, "b2"), Some(None));
    // An upgrade that migrates data itself is left to the static drop-column warning.
    assert!(matches!(
        ran(&report, Check::DestroysData, "b2"),
        Some(Some(reason)) if reason.contains("migrates data itself")
    ));
}

#[test]
fn an_accepted_finding_is_info_with_its_reason() {
    let history = linear(&["a1", "b2"]);
    let mut host = SqliteHost::new([
        ("a1", script(&[CREATE_BOOKS], &[DROP_BOOKS])),
        ("b2", script(&["DROP TABLE books"], &[CREATE_BOOKS])),
    ]);
    let mut options = DrillOptions::default();
    options.accept.insert(
        "b2".to_owned(),
        [("destroys-data".to_owned(), "archived by hand".to_owned())].into(),
    );
    let (report, _) = drill(&history, &mut host, &options);
    let report = report.expect("the walk completes");
    let destroyed: Vec<_> = report
        .findings_for(Check::DestroysData.id(), Some("b2"))
        .collect();
    assert_eq!(destroyed.len(), 1, "{:?}", report.findings);
    assert_eq!(destroyed[0].severity, Severity::Info);
    assert!(
        destroyed[0]
            .message
            .contains("table books is dropped with 3 rows")
    );
    assert!(
        destroyed[0]
            .message
            .ends_with("(accepted for b2: archived by hand)")
    );
    // The downgrade recreates the table empty: its rows are not brought back.
    let lost: Vec<_> = report
        .findings_for(Check::DowngradeLosesData.id(), Some("b2"))
        .collect();
    assert_eq!(lost.len(), 1, "{:?}", report.findings);
    assert!(
        lost[0].message.contains("books: 3 of 3 rows missing"),
        "{}",
        lost[0].message
    );
    assert_eq!(lost[0].severity, Severity::Error);
}
