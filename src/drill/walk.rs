//! The walk: base to heads, one revision at a time, every check fed by the same pass.
//!
//! For each revision N, on the main database (at N's parents):
//! 1. snapshot the schema; where data checks run, seed the tables of the seeded database
//!    that have no rows yet;
//! 2. upgrade N (`upgrade-failed`);
//! 3. downgrade N (`downgrade-failed`), snapshot and compare with 1
//!    (`downgrade-leaves-trace`), upgrade N again (`roundtrip-failed`);
//! 4. on the seeded database: read every table's rows, upgrade N (`data-dependent-failure`),
//!    read them again (`destroys-data`: dropped columns and tables whose values are found
//!    nowhere); where the round trip of 3 was clean, downgrade N, compare the rows with those
//!    read before (`downgrade-loses-data`) and upgrade N again; then run N's data migration
//!    again and compare table fingerprints (`not-idempotent`).
//!
//! The seeded database walks forward beside the main one, so its rows age with the history
//! as production's do: a table is seeded once, when it first exists, and later revisions
//! meet the rows as earlier ones left them (a column added as nullable stays NULL until a
//! revision fills it). It starts as a clone of the main database with every table seeded,
//! and starts again so whenever it cannot be trusted (its upgrade failed, a replay changed
//! its data, a revision was skipped) or the user gives rows for the revision. Each revision
//! then costs the same whatever the number of revisions before it, except the schema
//! snapshots and fingerprints, which read every table.
//!
//! Each revision's downgrade thus runs from exactly the schema a head-to-base walk would
//! give it, without a second pass. At the end, the models are compared with the
//! database at head (`model-drift`).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Instant;

use tokio::sync::Mutex;

use super::checks::Check;
use super::data_loss::{self, TableLoss};
use super::error::{DrillError, InspectionError};
use super::hazards;
use super::host::{Direction, ErrorKind, Host, ModelComparison, Progress, Rerun, StepOutcome};
use super::options::{DrillOptions, UserRows};
use crate::engine::Engine;
use crate::finding::{Finding, Severity};
use crate::graph::StaticCheck;
use crate::history::History;
use crate::report::{CheckRun, DrillReport, StepTiming};
use crate::revision::{BodyKind, RevisionMeta};
use crate::schema::{self, Contents, DbConnection, SchemaSnapshot};
use crate::seed::ModelHints;
use crate::servers::Server;

/// Runs every enabled drill check of `options` over the history, on databases created in
/// `server`, and returns the report (static findings included).
pub fn run_drill<H: Host>(
    history: &History,
    server: Arc<Mutex<Server>>,
    host: &mut H,
    options: &DrillOptions,
) -> Result<DrillReport, DrillError> {
    let started = Instant::now();
    let (database, reason, engine) = host.wait({
        let server = Arc::clone(&server);
        async move {
            let server = server.lock().await;
            (
                server.describe(),
                server.reason().map(str::to_owned),
                server.engine(),
            )
        }
    })?;
    let mut report = DrillReport {
        config_file: history.config_file.clone(),
        database,
        database_reason: reason,
        revisions: history.graph.len(),
        findings: history
            .findings
            .iter()
            .filter(|f| options.reports(&f.check))
            .cloned()
            .collect(),
        ..DrillReport::default()
    };
    let structural: BTreeSet<&str> = history
        .findings
        .iter()
        .filter(|f| {
            f.check
                .parse::<StaticCheck>()
                .is_ok_and(StaticCheck::is_structural)
        })
        .map(|f| f.check.as_str())
        .collect();
    if !structural.is_empty() {
        let reason = format!(
            "Alembic cannot load this history ({}): fix those findings first",
            structural.into_iter().collect::<Vec<_>>().join(", ")
        );
        for check in Check::ALL.into_iter().filter(|c| options.enabled(*c)) {
            report.checks.push(CheckRun {
                check: check.id().to_owned(),
                revision: None,
                skipped: Some(reason.clone()),
            });
        }
    } else {
        let mut walk = Walk {
            history,
            server,
            host,
            options,
            engine,
            report: &mut report,
            version_table: "alembic_version".to_owned(),
            not_reached: BTreeMap::new(),
            applied: Vec::new(),
            seeded: None,
            hints: None,
        };
        walk.run()?;
    }
    tell_once(&mut report);
    accept(&mut report, history, options);
    report.seconds = started.elapsed().as_secs_f64();
    report.finish();
    Ok(report)
}

/// What the walk measured is told by its own finding alone: the static warnings of the
/// same revision that claim the same thing from the script's text are left out (a drop
/// whose lost values were seen, an index seen blocking writes).
fn tell_once(report: &mut DrillReport) {
    let measured_over_read: [(Check, &[StaticCheck]); 2] = [
        (
            Check::DestroysData,
            &[StaticCheck::DropColumn, StaticCheck::DropTable],
        ),
        (
            Check::BlockingIndex,
            &[StaticCheck::IndexWithoutConcurrently],
        ),
    ];
    let told: BTreeSet<(String, &str)> = report
        .findings
        .iter()
        .flat_map(|f| {
            measured_over_read
                .iter()
                .filter(|(check, _)| f.check == check.id())
                .flat_map(|(_, statics)| statics.iter().map(|s| s.id()))
                .filter_map(|id| Some((f.revision.clone()?, id)))
                .collect::<Vec<_>>()
        })
        .collect();
    report.findings.retain(|f| {
        f.revision
            .as_ref()
            .is_none_or(|r| !told.contains(&(r.clone(), f.check.as_str())))
    });
}

/// Findings the revisions accept become info, with the reason: in the settings
/// (`DrillOptions::accept`), or in the script by an `# alembic-drill: ignore[...]` comment
/// in `upgrade()` or `downgrade()` (for `destroys-data`, one naming the drop is enough).
fn accept(report: &mut DrillReport, history: &History, options: &DrillOptions) {
    for finding in &mut report.findings {
        let Some(revision) = finding.revision.clone() else {
            continue;
        };
        let why = options
            .accepted(&revision, &finding.check)
            .map(|why| format!("accepted for {revision}: {why}"))
            .or_else(|| {
                let meta = history.graph.get(&revision)?;
                let declared = |id: &str| {
                    meta.upgrade
                        .ignores
                        .iter()
                        .chain(&meta.downgrade.ignores)
                        .any(|i| i == id)
                };
                let drop_ids = [StaticCheck::DropColumn.id(), StaticCheck::DropTable.id()];
                let named = declared(&finding.check)
                    || (finding.check == Check::DestroysData.id()
                        && drop_ids.iter().any(|id| declared(id)));
                named.then(|| "declared intended in the script (alembic-drill: ignore)".to_owned())
            });
        if let Some(why) = why {
            finding.severity = Severity::Info;
            finding.message = format!("{} ({why})", finding.message);
        }
    }
}

/// How to verify a revision that synthetic rows could not: the end of every such warning.
fn give_real_rows(rev: &str) -> String {
    format!(
        "Give representative rows for this revision with [tool.alembic-drill.seeds.\"{rev}\"] \
         or the pytest_alembic_drill_seed_rows hook"
    )
}

/// Rows read per table to compare contents (`downgrade-loses-data`, `destroys-data`); a
/// table with more is left out of the comparison.
const CONTENTS_CAP: usize = 10_000;

/// A throwaway database: its name and the URLs to reach it.
struct Db {
    name: String,
    /// For sqlx (snapshots, seeding, fingerprints).
    url: String,
    /// For SQLAlchemy (the Alembic steps).
    alembic_url: String,
    /// The walk's connection for inspections, opened on first use.
    inspector: StdMutex<Option<DbConnection>>,
}

impl Db {
    fn new(name: String, url: String, alembic_url: String) -> Db {
        Db {
            name,
            url,
            alembic_url,
            inspector: StdMutex::new(None),
        }
    }
}

/// The database for the data checks, walking forward beside the main one.
struct Seeded {
    db: Db,
    /// Tables already given rows.
    tables: BTreeSet<String>,
}

/// What the data checks left the seeded database fit for.
enum SeededState {
    /// Upgraded, its data as the upgrade left it: it walks on.
    Fit,
    /// Its data or schema cannot be trusted any more.
    Unfit,
    /// The upgrade failed on its rows (the replay is still owed).
    UpgradeFailed,
}

/// Whether the main database's round trip of a revision was clean, or why not.
type RoundTrip = Result<(), String>;

/// An inspection on a database's kept connection.
type Inspection<'a, T> = Pin<Box<dyn Future<Output = Result<T, InspectionError>> + Send + 'a>>;

struct Walk<'a, H: Host> {
    history: &'a History,
    server: Arc<Mutex<Server>>,
    host: &'a mut H,
    options: &'a DrillOptions,
    engine: Engine,
    report: &'a mut DrillReport,
    version_table: String,
    /// Revisions that could not be applied, with why.
    not_reached: BTreeMap<String, String>,
    /// Revisions applied to the main database, in order (to rebuild it).
    applied: Vec<String>,
    /// The seeded database, at the same revisions as the main one (None: made afresh when
    /// next needed).
    seeded: Option<Seeded>,
    /// What the models say of text columns, asked of the host before the first seeding.
    hints: Option<Arc<ModelHints>>,
}

impl<H: Host> Walk<'_, H> {
    fn run(&mut self) -> Result<(), DrillError> {
        let order: Vec<String> = self
            .history
            .graph
            .order()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let mut main = self.new_db()?;
        for (index, rev) in order.iter().enumerate() {
            let meta = self
                .history
                .graph
                .get(rev)
                .cloned()
                .expect("order only lists known revisions");
            let progress = Progress {
                index: index + 1,
                total: order.len(),
                revision: rev.clone(),
                activity: String::new(),
            };
            main = self.revision(main, &meta, progress)?;
        }
        if self.options.enabled(Check::ModelDrift) {
            self.model_drift(&main)?;
        }
        self.discard_seeded()?;
        self.drop_db(main)
    }

    /// All checks of one revision; returns the main database, at this revision.
    fn revision(
        &mut self,
        main: Db,
        meta: &RevisionMeta,
        progress: Progress,
    ) -> Result<Db, DrillError> {
        let rev = meta.id.as_str();
        let blocked = self
            .history
            .graph
            .parents(rev)
            .into_iter()
            .chain(self.history.graph.dependencies(rev))
            .find_map(|p| {
                self.not_reached
                    .get(p)
                    .map(|why| (p.to_owned(), why.clone()))
            });
        if let Some((parent, why)) = blocked {
            let reason = if why.is_empty() {
                format!("not reached: {parent} did not upgrade")
            } else {
                why
            };
            self.skip_all(rev, &reason);
            self.not_reached.insert(rev.to_owned(), reason);
            return Ok(main);
        }
        let skipped = self.options.skip_revisions.get(rev).cloned();
        let wants_data = skipped.is_none()
            && ([
                Check::DataDependentFailure,
                Check::DestroysData,
                Check::DowngradeLosesData,
                Check::NotIdempotent,
            ]
            .into_iter()
            .any(|c| self.options.enabled(c))
                || self.wants_hazards());

        self.host.progress(Progress {
            activity: "snapshot".into(),
            ..progress.clone()
        });
        let before = self.snapshot(&main)?;
        let seeded = if wants_data && !before.tables.is_empty() {
            self.host.progress(Progress {
                activity: "seeding".into(),
                ..progress.clone()
            });
            Some(self.seeded_db(&main, &before, rev)?)
        } else {
            // Not upgraded this revision: it would fall behind the main database.
            self.discard_seeded()?;
            None
        };

        self.host.progress(Progress {
            activity: "upgrade".into(),
            ..progress.clone()
        });
        // Captured on the main database too where rows are seeded: if the seeded upgrade
        // fails, the replay still runs, on fresh rows (one check never hides another).
        let capture_on_main = skipped.is_none() && self.options.enabled(Check::NotIdempotent);
        let up = self.step(&main, Direction::Upgrade, rev, "walk", capture_on_main)?;
        self.ran(Check::UpgradeFailed, rev);
        if !up.ok {
            self.finding(
                Check::UpgradeFailed,
                meta,
                meta.upgrade.line,
                format!(
                    "upgrading to {rev} fails: {}",
                    up.error.as_deref().unwrap_or("unknown error")
                ),
            );
            self.not_reached.insert(rev.to_owned(), String::new());
            if let Some(seeded) = seeded {
                self.drop_db(seeded.db)?;
            }
            // Where DDL commits as it goes, the failed upgrade may have left half its
            // changes: the other branches must not walk on them.
            if !self.transactional_ddl() && self.moved_from(&main, &before)? {
                return self.rebuild(main);
            }
            return Ok(main);
        }
        self.applied.push(rev.to_owned());

        if let Some(reason) = skipped {
            // The upgrade ran (and passed): every other check of the revision is skipped.
            for check in Check::per_revision().filter(|c| *c != Check::UpgradeFailed) {
                self.skip(check, rev, &reason);
            }
            return Ok(main);
        }

        let (main, round_trip) = self.reversibility(main, meta, &before, &progress)?;

        if let Some(seeded) = seeded {
            self.host.progress(Progress {
                activity: "seeded upgrade".into(),
                ..progress.clone()
            });
            match self.data_checks(&seeded.db, meta, &before, round_trip)? {
                SeededState::Fit => self.seeded = Some(seeded),
                SeededState::Unfit => self.drop_db(seeded.db)?,
                SeededState::UpgradeFailed => {
                    self.drop_db(seeded.db)?;
                    self.replay_on_fresh_rows(&main, meta, up.capture)?;
                }
            }
        } else {
            let reason = "no table exists before this revision: nothing to seed";
            for check in [
                Check::DataDependentFailure,
                Check::DestroysData,
                Check::DowngradeLosesData,
            ] {
                self.skip(check, rev, reason);
            }
            for check in hazards::CHECKS {
                self.skip(
                    check,
                    rev,
                    "no table exists before this revision: nothing to block",
                );
            }
            if self.options.enabled(Check::NotIdempotent) {
                match up.capture {
                    Some(capture) => {
                        let copy = self.clone_db(&main)?;
                        self.idempotency(&copy, meta, capture)?;
                        self.drop_db(copy)?;
                    }
                    None => self.ran(Check::NotIdempotent, rev),
                }
            }
        }
        Ok(main)
    }

    /// Downgrade, compare with the schema before, upgrade again. Returns the main database
    /// (at this revision) and whether that round trip was clean: Err says why not.
    fn reversibility(
        &mut self,
        main: Db,
        meta: &RevisionMeta,
        before: &SchemaSnapshot,
        progress: &Progress,
    ) -> Result<(Db, RoundTrip), DrillError> {
        let rev = meta.id.as_str();
        let wanted = [
            Check::DowngradeFailed,
            Check::RoundtripFailed,
            Check::DowngradeLeavesTrace,
        ]
        .into_iter()
        .any(|c| self.options.enabled(c));
        if !wanted {
            return Ok((
                main,
                Err("the round trip checks (downgrade-failed) are not run".into()),
            ));
        }
        self.host.progress(Progress {
            activity: "roundtrip".into(),
            ..progress.clone()
        });
        // The schema at this revision, to tell whether the round trip brought it back:
        // MySQL and SQLite commit DDL as they go, so a failed downgrade may leave a
        // half-done state (dropped tables, batch mode's _alembic_tmp_ copy).
        let after = if self.transactional_ddl() {
            None
        } else {
            Some(self.snapshot(&main)?)
        };
        let down = self.step(&main, Direction::Downgrade, rev, "roundtrip", false)?;
        self.ran(Check::DowngradeFailed, rev);
        if !down.ok {
            let error = down.error.as_deref().unwrap_or("unknown error");
            let (severity, message) = if meta.downgrade.kind == BodyKind::Irreversible {
                (
                    Severity::Info,
                    format!(
                        "{rev} is declared irreversible: downgrading it fails as intended ({error})"
                    ),
                )
            } else if self.below_oldest_downgrade(rev) {
                (
                    Severity::Info,
                    format!(
                        "downgrading {rev} fails, at or below the oldest downgrade required ({}): {error}",
                        self.options.oldest_downgrade.as_deref().unwrap_or("")
                    ),
                )
            } else {
                (
                    Severity::Error,
                    format!(
                        "downgrading {rev} fails: {error}; fix downgrade(), or raise NotImplementedError to declare it irreversible"
                    ),
                )
            };
            self.finding_as(
                Check::DowngradeFailed,
                severity,
                meta,
                meta.downgrade.line,
                message,
            );
            let reason = "the downgrade did not run";
            self.skip(Check::RoundtripFailed, rev, reason);
            self.skip(Check::DowngradeLeavesTrace, rev, reason);
            let why = if meta.downgrade.kind == BodyKind::Irreversible {
                format!("{rev} is declared irreversible")
            } else {
                "the downgrade fails (downgrade-failed)".to_owned()
            };
            let main = match after {
                Some(after) if self.moved_from(&main, &after)? => self.rebuild(main)?,
                _ => main,
            };
            return Ok((main, Err(why)));
        }

        let restored = self.snapshot(&main)?;
        let trace = schema::diff(before, &restored);
        self.ran(Check::DowngradeLeavesTrace, rev);
        if !trace.is_empty() {
            self.finding(
                Check::DowngradeLeavesTrace,
                meta,
                meta.downgrade.line,
                format!(
                    "after downgrading {rev} the schema differs from before {rev} was applied \
                 (- before, + after):\n{trace}"
                ),
            );
        }

        let again = self.step(&main, Direction::Upgrade, rev, "roundtrip", false)?;
        self.ran(Check::RoundtripFailed, rev);
        if !again.ok {
            self.finding(
                Check::RoundtripFailed,
                meta,
                meta.upgrade.line,
                format!(
                    "upgrading to {rev} again after downgrading it fails: {}; downgrade() does not \
                 undo everything upgrade() does",
                    again.error.as_deref().unwrap_or("unknown error")
                ),
            );
            let main = self.rebuild(main)?;
            return Ok((main, Err("the round trip fails (roundtrip-failed)".into())));
        }
        if !trace.is_empty() {
            // What the downgrade left behind may have stayed after the upgrade ran again
            // (an index, a column): later revisions must not meet it. Where the schema at
            // this revision was not taken (PostgreSQL), a trace is rare enough to rebuild.
            let stayed = match &after {
                Some(after) => self.moved_from(&main, after)?,
                None => true,
            };
            let why = "the downgrade does not restore the schema (downgrade-leaves-trace)";
            let main = if stayed { self.rebuild(main)? } else { main };
            return Ok((main, Err(why.into())));
        }
        Ok((main, Ok(())))
    }

    /// Whether the engine undoes a failed step's DDL (PostgreSQL); MySQL and SQLite
    /// commit each DDL statement as it runs.
    fn transactional_ddl(&self) -> bool {
        self.engine == Engine::Postgres
    }

    /// On the seeded database, at the revision's parents: the upgrade must run and keep
    /// the data it drops somewhere, its downgrade must bring the rows back (where the main
    /// database's round trip was clean), and its data statements must change nothing when
    /// run again. Returns whether the database is still fit to walk on (upgraded, data as
    /// the upgrade left it).
    fn data_checks(
        &mut self,
        seeded: &Db,
        meta: &RevisionMeta,
        before: &SchemaSnapshot,
        round_trip: RoundTrip,
    ) -> Result<SeededState, DrillError> {
        let rev = meta.id.as_str();
        let reads_rows = self.options.enabled(Check::DestroysData)
            || self.options.enabled(Check::DowngradeLosesData);
        let rows_before = if reads_rows {
            Some(self.contents(seeded)?)
        } else {
            None
        };
        let round_trip = if self.options.enabled(Check::DowngradeLosesData) {
            round_trip
        } else {
            Err(String::new())
        };
        // Where the round trip is repeated here, the replay follows its second upgrade: the
        // state a retried upgrade meets is the same, and no check waits on another.
        let capture = self.options.enabled(Check::NotIdempotent);
        let baseline = self.watch_hazards(seeded, rev)?;
        // Captured also to tell whether the upgrade migrates data (destroys-data).
        let up = self.step(
            seeded,
            Direction::Upgrade,
            rev,
            "seeded",
            (capture && round_trip.is_err()) || self.options.enabled(Check::DestroysData),
        )?;
        if let Some(baseline) = baseline {
            self.host.watch_hazards(&seeded.alembic_url, false)?;
            self.hazards(meta, &up, &baseline);
        }
        if self.options.enabled(Check::DataDependentFailure) {
            self.ran(Check::DataDependentFailure, rev);
            if !up.ok {
                let error = up.error.as_deref().unwrap_or("unknown error");
                let certain = up
                    .error_kind
                    .is_none_or(ErrorKind::certain_on_synthetic_rows);
                if certain {
                    // The advice fits a constraint over the rows; any other failure is told
                    // as it is.
                    let advice = if up.error_kind == Some(ErrorKind::Constraint) {
                        "give new NOT NULL columns a server_default (or backfill before \
                         setting NOT NULL), and make data changes tolerate existing rows"
                    } else {
                        "make the revision tolerate the rows a database already holds"
                    };
                    self.finding(Check::DataDependentFailure, meta, meta.upgrade.line, format!(
                        "upgrading to {rev} works on empty tables but fails when they hold rows: \
                         {error}; {advice}"
                    ));
                } else {
                    // The script's code or a value check refused alembic-drill's synthetic
                    // rows: a claim about production's rows cannot be made from them.
                    let raised_by = if up.error_kind == Some(ErrorKind::Code) {
                        "the script's own code"
                    } else {
                        "the database, for a value"
                    };
                    self.finding_as(Check::DataDependentFailure, Severity::Warning, meta, meta.upgrade.line, format!(
                        "{rev} could not be verified with synthetic rows: its upgrade works on empty \
                         tables, and on alembic-drill's synthetic rows {raised_by} raised {error}; \
                         real rows may hold what it expects. {}",
                        give_real_rows(rev)
                    ));
                }
            }
        }
        if !up.ok {
            for check in [Check::DestroysData, Check::DowngradeLosesData] {
                self.skip(check, rev, "the upgrade failed on seeded tables");
            }
            return Ok(SeededState::UpgradeFailed);
        }
        if self.options.enabled(Check::DestroysData)
            && let Some(rows_before) = &rows_before
        {
            if up.capture.is_some() {
                // The upgrade migrated data itself: a dropped value may live on reshaped
                // (a JSON field, a new row elsewhere), which no search for it can tell on
                // synthetic rows. The static drop-column / drop-table warnings stand.
                self.skip(
                    Check::DestroysData,
                    rev,
                    "the upgrade migrates data itself: where dropped values went cannot be told \
                     on synthetic rows",
                );
            } else {
                let rows_after = self.contents(seeded)?;
                self.destroys_data(meta, rows_before, &rows_after);
            }
        }
        let mut replayed = up.capture;
        match (round_trip, rows_before) {
            (Ok(()), Some(rows_before)) => {
                match self.seeded_round_trip(seeded, meta, before, &rows_before, capture)? {
                    Ok(capture) => replayed = capture,
                    Err(why) => {
                        self.skip(Check::NotIdempotent, rev, &why);
                        return Ok(SeededState::Unfit);
                    }
                }
            }
            (Err(why), _) if !why.is_empty() => self.skip(
                Check::DowngradeLosesData,
                rev,
                &format!("{why}: the data its downgrade brings back cannot be judged"),
            ),
            _ => {}
        }
        let mut fit = true;
        if self.options.enabled(Check::NotIdempotent) {
            match replayed {
                Some(capture) => fit = self.idempotency(seeded, meta, capture)?,
                None => self.ran(Check::NotIdempotent, rev),
            }
        }
        Ok(if fit {
            SeededState::Fit
        } else {
            SeededState::Unfit
        })
    }

    /// `not-idempotent` when the upgrade failed on the seeded rows: on a copy of the main
    /// database (upgraded), every table seeded afresh, with the main upgrade's capture.
    fn replay_on_fresh_rows(
        &mut self,
        main: &Db,
        meta: &RevisionMeta,
        capture: Option<u64>,
    ) -> Result<(), DrillError> {
        let rev = meta.id.as_str();
        if !self.options.enabled(Check::NotIdempotent) {
            return Ok(());
        }
        let Some(capture) = capture else {
            self.ran(Check::NotIdempotent, rev);
            return Ok(());
        };
        let copy = self.clone_db(main)?;
        let schema = self.snapshot(&copy)?;
        // The schema at this revision may refuse synthetic rows (the failure just seen may
        // be why): then the replay cannot be judged, and the walk goes on.
        match self.seed(&copy, &schema, UserRows::new(), Vec::new()) {
            Ok(()) => {
                self.replay(&copy, meta, capture, false)?;
            }
            Err(DrillError::Inspection { source, .. }) => self.skip(
                Check::NotIdempotent,
                rev,
                &format!(
                    "the upgrade failed on seeded rows, and fresh rows cannot be seeded at this \
                     revision ({source})"
                ),
            ),
            Err(other) => return Err(other),
        }
        self.drop_db(copy)
    }

    /// `destroys-data`: what the upgrade dropped while it held values found nowhere after.
    fn destroys_data(&mut self, meta: &RevisionMeta, before: &Contents, after: &Contents) {
        let rev = meta.id.as_str();
        self.ran(Check::DestroysData, rev);
        let destroyed = data_loss::destroyed(before, after);
        if destroyed.is_empty() {
            return;
        }
        let lines: Vec<String> = destroyed.iter().map(|d| format!("  {d}")).collect();
        self.finding(
            Check::DestroysData,
            meta,
            meta.upgrade.line,
            format!(
                "upgrading to {rev} destroys data that no downgrade can bring back (seen on \
                 alembic-drill's seeded rows):\n{}\nkeep a copy first (an archive table, a \
                 backup), or accept it with [tool.alembic-drill.accept.\"{rev}\"] \
                 destroys-data = \"why\"",
                lines.join("\n")
            ),
        );
    }

    /// `downgrade-loses-data`: downgrade the seeded database, compare its rows with those
    /// read before the upgrade, and upgrade again. Returns the second upgrade's capture, or
    /// why the database is no longer fit to walk on.
    fn seeded_round_trip(
        &mut self,
        seeded: &Db,
        meta: &RevisionMeta,
        before: &SchemaSnapshot,
        rows_before: &Contents,
        capture: bool,
    ) -> Result<Result<Option<u64>, String>, DrillError> {
        let rev = meta.id.as_str();
        // Captured to tell whether the downgrade rewrites data itself (see below).
        let down = self.step(seeded, Direction::Downgrade, rev, "seeded roundtrip", true)?;
        if !down.ok {
            let why = "the downgrade fails on seeded rows";
            self.fails_on_rows(
                Check::DowngradeFailed,
                meta,
                meta.downgrade.line,
                "downgrading",
                &down,
            );
            self.skip(Check::DowngradeLosesData, rev, why);
            return Ok(Err(why.into()));
        }
        let rows_after = self.contents(seeded)?;
        let keys: BTreeMap<String, Vec<String>> = before
            .tables
            .iter()
            .filter_map(|(name, table)| {
                let key = table.primary_key.as_ref()?;
                Some((name.clone(), key.columns.clone()))
            })
            .collect();
        self.ran(Check::DowngradeLosesData, rev);
        let losses = data_loss::not_restored(rows_before, &rows_after, &keys);
        if !losses.is_empty() {
            self.downgrade_loses_data(meta, before, &losses, down.capture.is_some());
        }
        let again = self.step(seeded, Direction::Upgrade, rev, "seeded roundtrip", capture)?;
        if !again.ok {
            self.fails_on_rows(
                Check::RoundtripFailed,
                meta,
                meta.upgrade.line,
                "upgrading again after the downgrade",
                &again,
            );
            return Ok(Err(
                "upgrading again after the downgrade fails on seeded rows".into(),
            ));
        }
        Ok(Ok(again.capture))
    }

    fn downgrade_loses_data(
        &mut self,
        meta: &RevisionMeta,
        before: &SchemaSnapshot,
        losses: &[TableLoss],
        rewrites_data: bool,
    ) {
        let rev = meta.id.as_str();
        let lines: Vec<String> = losses.iter().map(|l| format!("  {l}")).collect();
        // Binary content (a pickle, a compressed blob) that the migration decodes in
        // Python: synthetic bytes may be dropped where real ones would round-trip.
        let binary = |table: &str, column: &str| {
            before
                .tables
                .get(table)
                .and_then(|t| t.columns.get(column))
                .is_some_and(|c| {
                    let t = c.data_type.to_ascii_lowercase();
                    t.contains("bytea") || t.contains("blob") || t.contains("binary")
                })
        };
        let only_binary = losses
            .iter()
            .all(|l| l.missing == 0 && l.columns.iter().all(|c| binary(&l.table, &c.column)));
        if rewrites_data && !only_binary {
            // The downgrade computes what it brings back from other values (an UPDATE from
            // other columns, rows rebuilt): on synthetic rows that may miss where
            // production's rows, which the application wrote consistently, would not.
            self.finding_as(
                Check::DowngradeLosesData,
                Severity::Warning,
                meta,
                meta.downgrade.line,
                format!(
                    "{rev} could not be verified with synthetic rows: its downgrade rewrites \
                     data to bring it back, and on alembic-drill's rows it did not:\n{}\nCheck \
                     that downgrade() restores what production's rows hold, or give \
                     representative rows for this revision with \
                     [tool.alembic-drill.seeds.\"{rev}\"] or the pytest_alembic_drill_seed_rows \
                     hook",
                    lines.join("\n")
                ),
            );
            return;
        }
        if only_binary {
            self.finding_as(
                Check::DowngradeLosesData,
                Severity::Warning,
                meta,
                meta.downgrade.line,
                format!(
                    "{rev} could not be verified with synthetic rows: after its downgrade, binary \
                     values differ from before (the migration may decode them, and alembic-drill's \
                     bytes are not what it expects):\n{}\n{}",
                    lines.join("\n"),
                    give_real_rows(rev)
                ),
            );
            return;
        }
        let severity = if self.below_oldest_downgrade(rev) {
            Severity::Info
        } else {
            Check::DowngradeLosesData.severity()
        };
        self.finding_as(
            Check::DowngradeLosesData,
            severity,
            meta,
            meta.downgrade.line,
            format!(
                "downgrading {rev} does not bring back the data that was there before {rev} was \
                 applied (seen on alembic-drill's seeded rows):\n{}\nmake downgrade() restore \
                 the data (copy it back before dropping what upgrade() added), or raise \
                 NotImplementedError to declare {rev} irreversible",
                lines.join("\n")
            ),
        );
    }

    /// A step that passed on the empty main database and failed on the seeded one: an
    /// error where the database refused the rows, a warning where only synthetic content
    /// may be to blame (see `data-dependent-failure`).
    fn fails_on_rows(
        &mut self,
        check: Check,
        meta: &RevisionMeta,
        line: Option<u32>,
        doing: &str,
        step: &StepOutcome,
    ) {
        let rev = meta.id.as_str();
        let error = step.error.as_deref().unwrap_or("unknown error");
        if step
            .error_kind
            .is_none_or(ErrorKind::certain_on_synthetic_rows)
        {
            let severity = if self.below_oldest_downgrade(rev) {
                Severity::Info
            } else {
                check.severity()
            };
            self.finding_as(
                check,
                severity,
                meta,
                line,
                format!(
                    "{doing} {rev} works on empty tables but fails when they hold rows: {error}"
                ),
            );
        } else {
            self.finding_as(
                check,
                Severity::Warning,
                meta,
                line,
                format!(
                    "{rev} could not be verified with synthetic rows: {doing} it works on empty \
                 tables and fails on alembic-drill's synthetic rows ({error}); real rows may \
                 hold what it expects. {}",
                    give_real_rows(rev)
                ),
            );
        }
    }

    fn wants_hazards(&self) -> bool {
        hazards::CHECKS.into_iter().any(|c| self.options.enabled(c))
    }

    /// Before the seeded upgrade: the tables and their rows, and the host told to measure
    /// the step (None: the hazard checks do not run here, skipped with the reason).
    fn watch_hazards(
        &mut self,
        seeded: &Db,
        rev: &str,
    ) -> Result<Option<hazards::Baseline>, DrillError> {
        if !self.wants_hazards() {
            return Ok(None);
        }
        if let Some(reason) = hazards::unsupported(self.engine) {
            for check in hazards::CHECKS {
                self.skip(check, rev, reason);
            }
            return Ok(None);
        }
        let started = Instant::now();
        let db = seeded.name.clone();
        let baseline = self.inspect(seeded, "count the rows of", |inspector| {
            Box::pin(async move {
                match inspector {
                    DbConnection::Postgres { conn, .. } => {
                        hazards::baseline(conn).await.map_err(|source| {
                            crate::schema::SchemaError::Query {
                                what: "row counts",
                                db,
                                source,
                            }
                            .into()
                        })
                    }
                    _ => Ok(hazards::Baseline::new()),
                }
            })
        })?;
        self.phase("count rows (hazards)", started);
        self.host.watch_hazards(&seeded.alembic_url, true)?;
        Ok(Some(baseline))
    }

    /// The production hazards the seeded upgrade showed.
    fn hazards(&mut self, meta: &RevisionMeta, up: &StepOutcome, baseline: &hazards::Baseline) {
        let rev = meta.id.as_str();
        let observations = match (&up.hazards, &up.hazards_unobserved) {
            _ if !up.ok => Err("the upgrade failed on seeded tables".to_owned()),
            (_, Some(reason)) => Err(format!("not measured: {reason}")),
            (None, None) => Err("not measured: the host does not watch steps".to_owned()),
            (Some(observations), None) => Ok(observations),
        };
        let observations = match observations {
            Ok(observations) => observations,
            Err(reason) => {
                for check in hazards::CHECKS {
                    self.skip(check, rev, &reason);
                }
                return;
            }
        };
        for check in hazards::CHECKS {
            self.ran(check, rev);
        }
        for hazard in hazards::assess(observations, baseline, self.options.hazard_lock_ms) {
            if self.options.enabled(hazard.check) {
                self.finding(hazard.check, meta, meta.upgrade.line, hazard.message);
            }
        }
    }

    /// Runs the upgrade's data migration again on the state it left and compares the
    /// table contents before and after; returns whether the data came out unchanged.
    fn idempotency(
        &mut self,
        db: &Db,
        meta: &RevisionMeta,
        capture: u64,
    ) -> Result<bool, DrillError> {
        self.replay(db, meta, capture, true)
    }

    /// `idempotency`, where a failing second run is a finding only when `failure_counts`
    /// (on fresh rows that already broke the first run, it proves nothing).
    fn replay(
        &mut self,
        db: &Db,
        meta: &RevisionMeta,
        capture: u64,
        failure_counts: bool,
    ) -> Result<bool, DrillError> {
        let rev = meta.id.as_str();
        let ignore = vec![self.version_table.clone()];
        let before = self.fingerprint(db, &ignore)?;
        let started = Instant::now();
        let rerun = self.host.rerun(&db.alembic_url, capture)?;
        self.phase("replay", started);
        match rerun {
            Rerun::Ran => self.ran(Check::NotIdempotent, rev),
            Rerun::Failed(error) if !failure_counts => {
                self.skip(
                    Check::NotIdempotent,
                    rev,
                    &format!(
                        "the upgrade failed on seeded rows, and run again on fresh ones it fails \
                         too ({error}): whether running it twice is safe cannot be told"
                    ),
                );
                return Ok(false);
            }
            Rerun::Failed(error) => {
                self.ran(Check::NotIdempotent, rev);
                self.finding(
                    Check::NotIdempotent,
                    meta,
                    meta.upgrade.line,
                    format!(
                        "{rev}'s upgrade fails when run a second time on the data it already \
                         migrated: {error}; a data migration that is retried (or partly applied) \
                         must not break"
                    ),
                );
                return Ok(false);
            }
            Rerun::Skipped(reason) => {
                // The rerun left nothing behind (its transaction was rolled back).
                self.skip(Check::NotIdempotent, rev, &reason);
                return Ok(true);
            }
        }
        let after = self.fingerprint(db, &ignore)?;
        let changes = schema::compare(&before, &after);
        if !changes.is_empty() {
            let lines: Vec<String> = changes.iter().map(|c| format!("  {c}")).collect();
            self.finding(
                Check::NotIdempotent,
                meta,
                meta.upgrade.line,
                format!(
                    "running {rev}'s upgrade a second time on the data it already migrated changes \
                 the data:\n{}\n\
                 guard inserts (INSERT ... WHERE NOT EXISTS / ON CONFLICT DO NOTHING) and make \
                 updates converge",
                    lines.join("\n")
                ),
            );
        }
        Ok(changes.is_empty())
    }

    fn model_drift(&mut self, main: &Db) -> Result<(), DrillError> {
        if let Some((rev, _)) = self.not_reached.iter().next() {
            let reason =
                format!("the history does not reach its heads ({rev} failed or was not reached)");
            self.report.checks.push(CheckRun {
                check: Check::ModelDrift.id().into(),
                revision: None,
                skipped: Some(reason),
            });
            return Ok(());
        }
        let heads: Vec<String> = self
            .history
            .graph
            .heads()
            .into_iter()
            .map(str::to_owned)
            .collect();
        self.host.progress(Progress {
            index: self.history.graph.len(),
            total: self.history.graph.len(),
            revision: heads.join(","),
            activity: Check::ModelDrift.id().into(),
        });
        let started = Instant::now();
        let comparison = self.host.compare_models(&main.alembic_url)?;
        self.phase("model comparison", started);
        match comparison {
            ModelComparison::Unavailable(reason) => {
                self.report.checks.push(CheckRun {
                    check: Check::ModelDrift.id().into(),
                    revision: None,
                    skipped: Some(reason),
                });
            }
            ModelComparison::Differences(lines) => {
                self.report.checks.push(CheckRun {
                    check: Check::ModelDrift.id().into(),
                    revision: None,
                    skipped: None,
                });
                if !lines.is_empty() {
                    let head = heads.first().and_then(|h| self.history.graph.get(h));
                    let mut finding = Finding::new(
                        Check::ModelDrift.id(),
                        Check::ModelDrift.severity(),
                        format!(
                            "the models (env.py's target_metadata) differ from the database at \
                             head:\n{}\nrun `alembic revision --autogenerate` to write the missing \
                             migration, or change the models",
                            lines
                                .iter()
                                .map(|l| format!("  {l}"))
                                .collect::<Vec<_>>()
                                .join("\n")
                        ),
                    );
                    if let Some(head) = head {
                        finding = finding.at(Some(&head.id), Some(&head.path), head.revision_line);
                    }
                    self.report.findings.push(finding);
                }
            }
        }
        Ok(())
    }

    // -- databases --------------------------------------------------------------------

    fn new_db(&mut self) -> Result<Db, DrillError> {
        let started = Instant::now();
        let server = Arc::clone(&self.server);
        let db = self.host.wait(async move {
            let server = server.lock().await;
            let name = server.create_database(None).await?;
            Ok::<_, crate::servers::ServerError>(Db::new(
                name.clone(),
                server.database_url(&name),
                server.sqlalchemy_url(&name, None),
            ))
        })??;
        self.phase("create database", started);
        if self.options.bootstrap {
            let started = Instant::now();
            self.host.bootstrap(&db.alembic_url)?;
            self.phase("bootstrap", started);
        }
        Ok(db)
    }

    fn clone_db(&mut self, from: &Db) -> Result<Db, DrillError> {
        self.disconnect(from)?;
        let server = Arc::clone(&self.server);
        let template = from.name.clone();
        let started = Instant::now();
        let db = self.host.wait(async move {
            let server = server.lock().await;
            let name = server.clone_database(&template, None).await?;
            Ok::<_, crate::servers::ServerError>(Db::new(
                name.clone(),
                server.database_url(&name),
                server.sqlalchemy_url(&name, None),
            ))
        })??;
        self.phase("clone database", started);
        Ok(db)
    }

    /// The seeded database at the revision's parents, every table holding rows: the one
    /// walking forward with its new tables seeded, or a clone of the main database seeded
    /// afresh (also when the user gives rows for this revision, which go in first).
    fn seeded_db(
        &mut self,
        main: &Db,
        before: &SchemaSnapshot,
        rev: &str,
    ) -> Result<Seeded, DrillError> {
        let user_rows = self.options.seeds.get(rev).cloned().unwrap_or_default();
        if user_rows.is_empty()
            && let Some(mut seeded) = self.seeded.take()
        {
            if before.tables.keys().any(|t| !seeded.tables.contains(t)) {
                let existing = seeded.tables.iter().cloned().collect();
                self.seed(&seeded.db, before, UserRows::new(), existing)?;
                seeded.tables.extend(before.tables.keys().cloned());
            }
            return Ok(seeded);
        }
        self.discard_seeded()?;
        let db = self.clone_db(main)?;
        self.seed(&db, before, user_rows, Vec::new())?;
        Ok(Seeded {
            db,
            tables: before.tables.keys().cloned().collect(),
        })
    }

    fn discard_seeded(&mut self) -> Result<(), DrillError> {
        match self.seeded.take() {
            Some(seeded) => self.drop_db(seeded.db),
            None => Ok(()),
        }
    }

    fn drop_db(&mut self, db: Db) -> Result<(), DrillError> {
        self.disconnect(&db)?;
        let server = Arc::clone(&self.server);
        let started = Instant::now();
        self.host
            .wait(async move { server.lock().await.drop_database(&db.name).await })??;
        self.phase("drop database", started);
        Ok(())
    }

    /// Replaces a main database whose state cannot be trusted by a fresh one upgraded
    /// through every revision applied so far.
    fn rebuild(&mut self, main: Db) -> Result<Db, DrillError> {
        self.drop_db(main)?;
        let fresh = self.new_db()?;
        for rev in self.applied.clone() {
            let step = self.step(&fresh, Direction::Upgrade, &rev, "rebuild", false)?;
            if !step.ok {
                return Err(DrillError::Rebuild {
                    revision: rev,
                    error: step.error.unwrap_or_default(),
                });
            }
        }
        Ok(fresh)
    }

    /// Runs `work` on the database's kept connection, opened first if needed. A failed
    /// inspection drops the connection: the next one starts afresh. `doing` names the
    /// inspection in its error (`cannot {doing} {database}: ...`).
    fn inspect<T: Send + 'static>(
        &mut self,
        db: &Db,
        doing: &'static str,
        work: impl for<'a> FnOnce(&'a mut DbConnection) -> Inspection<'a, T> + Send + 'static,
    ) -> Result<T, DrillError> {
        let kept = db.inspector.lock().expect("not poisoned").take();
        let url = db.url.clone();
        let (inspector, result) = self.host.wait(async move {
            let mut inspector = match kept {
                Some(inspector) => inspector,
                None => match DbConnection::open(&url).await {
                    Ok(inspector) => inspector,
                    Err(error) => return (None, Err(error.into())),
                },
            };
            let result = work(&mut inspector).await;
            (result.is_ok().then_some(inspector), result)
        })?;
        *db.inspector.lock().expect("not poisoned") = inspector;
        result.map_err(|source| DrillError::Inspection {
            doing,
            database: db.name.clone(),
            source: Box::new(source),
        })
    }

    /// Closes every connection kept to `db` (the host's engines, the walk's own): before it
    /// is cloned or dropped, which PostgreSQL refuses while sessions are open.
    fn disconnect(&mut self, db: &Db) -> Result<(), DrillError> {
        self.host.release(&db.alembic_url)?;
        let kept = db.inspector.lock().expect("not poisoned").take();
        if let Some(inspector) = kept {
            self.host.wait(inspector.close())?;
        }
        Ok(())
    }

    /// Whether `db`'s schema is no longer `known` (a failed or undone step left a change).
    fn moved_from(&mut self, db: &Db, known: &SchemaSnapshot) -> Result<bool, DrillError> {
        Ok(!schema::diff(known, &self.snapshot(db)?).is_empty())
    }

    fn snapshot(&mut self, db: &Db) -> Result<SchemaSnapshot, DrillError> {
        let ignore = self.version_table.clone();
        let started = Instant::now();
        let snapshot = self.inspect(db, "read the schema of", move |inspector| {
            Box::pin(async move { Ok(inspector.snapshot(&[ignore.as_str()]).await?) })
        })?;
        self.phase("snapshot", started);
        Ok(snapshot)
    }

    /// Every table's rows (see `schema::Contents`), the version table left out.
    fn contents(&mut self, db: &Db) -> Result<Contents, DrillError> {
        let ignore = self.version_table.clone();
        let started = Instant::now();
        let contents = self.inspect(db, "read the rows of", move |inspector| {
            Box::pin(async move { Ok(inspector.contents(&[ignore.as_str()], CONTENTS_CAP).await?) })
        })?;
        self.phase("read rows", started);
        Ok(contents)
    }

    fn fingerprint(
        &mut self,
        db: &Db,
        ignore: &[String],
    ) -> Result<BTreeMap<String, schema::TableFingerprint>, DrillError> {
        let ignore = ignore.to_vec();
        let started = Instant::now();
        let fingerprints = self.inspect(db, "fingerprint", move |inspector| {
            Box::pin(async move {
                let ignore: Vec<&str> = ignore.iter().map(String::as_str).collect();
                Ok(inspector.fingerprint(&ignore).await?)
            })
        })?;
        self.phase("fingerprint", started);
        Ok(fingerprints)
    }

    /// Seeds every table of `snapshot` but the `existing` ones (which already hold rows).
    fn seed(
        &mut self,
        db: &Db,
        snapshot: &SchemaSnapshot,
        user_rows: UserRows,
        existing: Vec<String>,
    ) -> Result<(), DrillError> {
        let snapshot = snapshot.clone();
        let rows = self.options.seeded_rows();
        let hints = match &self.hints {
            Some(hints) => Arc::clone(hints),
            None => {
                let hints = Arc::new(self.host.model_hints()?);
                self.hints = Some(Arc::clone(&hints));
                hints
            }
        };
        let started = Instant::now();
        let phase = if existing.is_empty() {
            "seed (every table)"
        } else {
            "seed (new tables)"
        };
        self.inspect(db, "seed", move |inspector| {
            Box::pin(async move {
                let plan = crate::seed::plan_with(&snapshot, rows, &user_rows, &hints)
                    .keep_existing(existing);
                crate::seed::seed_connection(inspector, &snapshot, &plan).await?;
                Ok(())
            })
        })?;
        self.phase(phase, started);
        Ok(())
    }

    fn step(
        &mut self,
        db: &Db,
        direction: Direction,
        revision: &str,
        purpose: &str,
        capture: bool,
    ) -> Result<StepOutcome, DrillError> {
        let outcome = self
            .host
            .step(&db.alembic_url, direction, revision, capture)?;
        if !outcome.version_table.is_empty() {
            self.version_table = outcome.version_table.clone();
        }
        self.report.add_phase(
            &format!("{} ({purpose})", direction.as_str()),
            outcome.seconds,
        );
        self.report.steps.push(StepTiming {
            direction: direction.as_str().to_owned(),
            revision: revision.to_owned(),
            purpose: purpose.to_owned(),
            seconds: outcome.seconds,
            ok: outcome.ok,
            connections: outcome.connections,
        });
        Ok(outcome)
    }

    // -- bookkeeping ------------------------------------------------------------------

    fn phase(&mut self, phase: &str, started: Instant) {
        self.report
            .add_phase(phase, started.elapsed().as_secs_f64());
    }

    fn below_oldest_downgrade(&self, rev: &str) -> bool {
        let Some(oldest) = self.options.oldest_downgrade.as_deref() else {
            return false;
        };
        let Ok(oldest) = self.history.graph.resolve(oldest) else {
            return false;
        };
        oldest == rev || self.history.graph.ancestors(oldest).contains(&rev)
    }

    /// A finding of `check`, at its severity.
    fn finding(&mut self, check: Check, meta: &RevisionMeta, line: Option<u32>, message: String) {
        self.finding_as(check, self.options.severity(check), meta, line, message);
    }

    fn finding_as(
        &mut self,
        check: Check,
        severity: Severity,
        meta: &RevisionMeta,
        line: Option<u32>,
        message: String,
    ) {
        self.report
            .findings
            .push(Finding::new(check.id(), severity, message).at(
                Some(&meta.id),
                Some(&meta.path),
                line.or(meta.revision_line),
            ));
    }

    fn ran(&mut self, check: Check, rev: &str) {
        if self.options.enabled(check) {
            self.report.checks.push(CheckRun {
                check: check.id().to_owned(),
                revision: Some(rev.to_owned()),
                skipped: None,
            });
        }
    }

    fn skip(&mut self, check: Check, rev: &str, reason: &str) {
        if self.options.enabled(check) {
            self.report.checks.push(CheckRun {
                check: check.id().to_owned(),
                revision: Some(rev.to_owned()),
                skipped: Some(reason.to_owned()),
            });
        }
    }

    fn skip_all(&mut self, rev: &str, reason: &str) {
        for check in Check::per_revision() {
            self.skip(check, rev, reason);
        }
    }
}
