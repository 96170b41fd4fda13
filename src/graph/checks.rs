//! The static checks: what is wrong with a history before it touches a database.
//!
//! Every check runs on every history, however broken: a loop, a missing parent and a
//! duplicate in the same history give three findings, not one.

use std::collections::{HashMap, HashSet};

use super::static_check::StaticCheck;
use super::{RefField, RevisionGraph, order};
use crate::finding::{Finding, Severity, sort_findings};
use crate::revision::{BodyKind, RevisionMeta, ScriptError};

/// Names listed in one message before "and N more": a history of thousands of revisions
/// must not produce messages of thousands of names.
const LIST_LIMIT: usize = 10;

/// Heads offered as likely intended parents of a revision whose parent is missing.
const CANDIDATE_LIMIT: usize = 5;

/// Findings for scripts that failed to load.
pub fn script_error_findings(errors: &[ScriptError]) -> Vec<Finding> {
    let mut out: Vec<Finding> = errors
        .iter()
        .map(|e| {
            Finding::new(
                StaticCheck::ScriptError.id(),
                StaticCheck::ScriptError.severity(),
                format!(
                    "could not load: {}; fix the script so it imports cleanly, \
                     Alembic cannot load the history until it does",
                    e.message
                ),
            )
            .at(None, Some(&e.path), e.line)
        })
        .collect();
    sort_findings(&mut out);
    out
}

pub(super) fn run(g: &RevisionGraph) -> Vec<Finding> {
    let shape = Shape::of(g);
    let mut out = Vec::new();
    multiple_heads(g, &shape, &mut out);
    multiple_bases(g, &shape, &mut out);
    missing_refs(g, &shape, &mut out);
    cycles(g, &mut out);
    duplicate_revisions(g, &mut out);
    duplicate_labels(g, &mut out);
    // Duplicate files are real scripts someone will keep or rename: check them too.
    for meta in g.revisions.iter().chain(&g.duplicates) {
        script_functions(meta, &mut out);
        operations(meta, &mut out);
    }
    sort_findings(&mut out);
    out
}

/// What several checks need, computed once.
struct Shape {
    heads: Vec<usize>,
    bases: Vec<usize>,
    /// For bases: whether a branch label declares it the start of an independent branch.
    declared: Vec<bool>,
}

impl Shape {
    fn of(g: &RevisionGraph) -> Shape {
        let bases = g.base_indices();
        let mut declared = vec![false; g.len()];
        for &b in &bases {
            declared[b] = labelled_chain(g, b);
        }
        Shape {
            heads: g.head_indices(),
            bases,
            declared,
        }
    }
}

/// Whether `base`, or a revision in the single-parent chain down from it, carries a branch
/// label. The chain stops at a branch point or a merge: past those the label could belong
/// to another lineage. `alembic revision --head=base --branch-label=NAME` labels the base
/// itself; labelling a later revision of the chain declares the same intent.
fn labelled_chain(g: &RevisionGraph, base: usize) -> bool {
    // Terminates: each step's revision has the previous one as its only parent, so the
    // walk can only come back to a revision through the base, which has no parent.
    let mut at = base;
    loop {
        if !g.revisions[at].branch_labels.is_empty() {
            return true;
        }
        match g.children[at].as_slice() {
            [only] if g.revisions[*only].down_revisions.len() == 1 => at = *only,
            _ => return false,
        }
    }
}

/// Weakly connected lineages over down_revision edges, as a representative per revision.
/// depends_on does not join lineages: independent branches depend on each other routinely.
fn lineages(g: &RevisionGraph) -> Vec<usize> {
    fn find(root: &mut [usize], mut x: usize) -> usize {
        while root[x] != x {
            root[x] = root[root[x]];
            x = root[x];
        }
        x
    }
    let mut root: Vec<usize> = (0..g.len()).collect();
    for (i, parents) in g.parents.iter().enumerate() {
        for &p in parents {
            let (a, b) = (find(&mut root, i), find(&mut root, p));
            if a != b {
                root[a.max(b)] = a.min(b);
            }
        }
    }
    (0..g.len()).map(|i| find(&mut root, i)).collect()
}

/// Heads that must be merged: several heads in one lineage, or heads of two or more
/// lineages whose bases are not all declared independent. A lineage with no base at all
/// is cut off by a missing parent or a loop; where it belongs is unknown until that is
/// fixed, so only its own extra heads count.
fn multiple_heads(g: &RevisionGraph, shape: &Shape, out: &mut Vec<Finding>) {
    if shape.heads.len() < 2 {
        return;
    }
    #[derive(Default)]
    struct Lineage {
        heads: Vec<usize>,
        bases: usize,
        declared: usize,
    }
    let lineage_of = lineages(g);
    let mut lineages: HashMap<usize, Lineage> = HashMap::new();
    for &h in &shape.heads {
        lineages.entry(lineage_of[h]).or_default().heads.push(h);
    }
    for &b in &shape.bases {
        let l = lineages.entry(lineage_of[b]).or_default();
        l.bases += 1;
        l.declared += usize::from(shape.declared[b]);
    }
    let undeclared = |l: &Lineage| l.bases > l.declared;
    let undeclared_lineages = lineages
        .values()
        .filter(|l| !l.heads.is_empty() && undeclared(l))
        .count();
    let mut flagged = vec![false; g.len()];
    for l in lineages.values() {
        if l.heads.len() > 1 || (undeclared_lineages > 1 && undeclared(l)) {
            for &h in &l.heads {
                flagged[h] = true;
            }
        }
    }
    let flagged: Vec<usize> = shape
        .heads
        .iter()
        .copied()
        .filter(|&h| flagged[h])
        .collect();
    if flagged.len() < 2 {
        return;
    }

    let names = listed(flagged.iter().map(|&h| described(g, h)), flagged.len());
    // `merge heads` would also swallow heads that are independent on purpose.
    let command = if flagged.len() == shape.heads.len() {
        "alembic merge heads -m \"merge\"".to_owned()
    } else {
        let ids: Vec<&str> = flagged.iter().map(|&h| g.id(h)).collect();
        format!("alembic merge -m \"merge\" {}", ids.join(" "))
    };
    for &h in &flagged {
        let meta = &g.revisions[h];
        out.push(finding(
            StaticCheck::MultipleHeads,
            meta,
            meta.revision_line,
            format!(
                "revision {} is one of {} heads: {names}; `alembic upgrade head` refuses to run \
                 while the history has several heads. Merge them with `{command}`, or, if a \
                 branch was started by mistake, point the down_revision of its first revision \
                 at the other head",
                meta.id,
                flagged.len(),
            ),
        ));
    }
}

/// Bases without a branch label beyond the first: one unlabelled base is the main line,
/// a second one is usually a script whose down_revision was lost.
fn multiple_bases(g: &RevisionGraph, shape: &Shape, out: &mut Vec<Finding>) {
    let undeclared: Vec<usize> = shape
        .bases
        .iter()
        .copied()
        .filter(|&b| !shape.declared[b])
        .collect();
    if undeclared.len() < 2 {
        return;
    }
    for &b in &undeclared {
        let meta = &g.revisions[b];
        let others = listed(
            undeclared
                .iter()
                .filter(|&&o| o != b)
                .map(|&o| described(g, o)),
            undeclared.len() - 1,
        );
        out.push(finding(
            StaticCheck::MultipleBases,
            meta,
            meta.down_revision_line.or(meta.revision_line),
            format!(
                "revision {id} has no down_revision, and neither does {others}; none of these \
                 bases carries a branch label, so the history has several unrelated starts. \
                 If {id} starts an independent branch on purpose, give it a branch label \
                 (`branch_labels = (\"name\",)`, as `alembic revision --head=base \
                 --branch-label=name` does); otherwise set its down_revision to the revision \
                 it should follow",
                id = meta.id,
            ),
        ));
    }
}

/// down_revision and depends_on entries that name nothing.
fn missing_refs(g: &RevisionGraph, shape: &Shape, out: &mut Vec<Finding>) {
    // Exact descendant counts while the total walking stays linear in the history;
    // after that each walk stops early, so thousands of broken revisions stay cheap.
    let mut budget = 8 * g.len() + 10_000;
    for group in g.missing.chunk_by(|a, b| a.rev == b.rev) {
        let rev = group[0].rev;
        let meta = &g.revisions[rev];
        let (cut, truncated) = g.descendants_bfs(rev, budget.max(100));
        budget = budget.saturating_sub(cut.len());

        let cut_off = if cut.is_empty() {
            format!("this cuts off {}", meta.id)
        } else {
            let count = if truncated {
                format!("at least {}", cut.len())
            } else {
                cut.len().to_string()
            };
            format!(
                "this cuts off {} and {count} descendant(s): {}",
                meta.id,
                listed(cut.iter().map(|&i| g.id(i).to_owned()), cut.len())
            )
        };
        let cut_set: HashSet<usize> = cut.iter().copied().collect();
        let candidates: Vec<String> = shape
            .heads
            .iter()
            .copied()
            .filter(|&h| h != rev && !cut_set.contains(&h))
            .take(CANDIDATE_LIMIT)
            .map(|h| described(g, h))
            .collect();

        for missing in group {
            let name = &missing.name;
            // A truncated id is the most common typo; a unique match is worth naming.
            let prefixed: Vec<usize> = g.with_prefix(name).take(2).collect();
            let hint = match prefixed.as_slice() {
                [only] if *only != rev => format!(" (did you mean '{}'?)", g.id(*only)),
                _ if !candidates.is_empty() => format!(
                    " (the current heads, likely candidates: {})",
                    candidates.join(", ")
                ),
                _ => String::new(),
            };
            let (message, line) = match missing.field {
                RefField::DownRevision => (
                    format!(
                        "down_revision '{name}' of revision {} names no revision, so Alembic \
                         cannot load the history; {cut_off}. Set down_revision to an existing \
                         revision{hint}",
                        meta.id
                    ),
                    meta.down_revision_line,
                ),
                RefField::DependsOn => (
                    format!(
                        "depends_on '{name}' of revision {} names no revision or branch label, \
                         so Alembic cannot load the history; {cut_off}. Point it at an existing \
                         revision or branch label, or remove it{hint}",
                        meta.id
                    ),
                    meta.depends_on_line,
                ),
            };
            out.push(finding(
                StaticCheck::MissingParent,
                meta,
                line.or(meta.revision_line),
                message,
            ));
        }
    }
}

/// One finding per loop (strongly connected component, or self-loop) over down_revision
/// and depends_on edges.
fn cycles(g: &RevisionGraph, out: &mut Vec<Finding>) {
    for comp in order::looping_components(&g.preds) {
        let start = comp[0];
        let path = order::loop_through(&g.preds, &comp, start);
        let via_down = |from: usize, to: usize| g.parents[from].contains(&to);

        let mut text = g.id(start).to_owned();
        let mut uses_depends_on = false;
        for pair in path.windows(2) {
            if via_down(pair[0], pair[1]) {
                text.push_str(" -> ");
            } else {
                uses_depends_on = true;
                text.push_str(" -(depends_on)-> ");
            }
            text.push_str(g.id(pair[1]));
        }
        let in_path: HashSet<usize> = path.iter().copied().collect();
        let tangled: Vec<usize> = comp
            .iter()
            .copied()
            .filter(|i| !in_path.contains(i))
            .collect();
        let tangle = if tangled.is_empty() {
            String::new()
        } else {
            format!(
                " ({} more revision(s) are caught in the same tangle: {})",
                tangled.len(),
                listed(tangled.iter().map(|&i| g.id(i).to_owned()), tangled.len())
            )
        };

        let meta = &g.revisions[start];
        let next = path[1];
        let (field, line) = if via_down(start, next) {
            ("down_revision", meta.down_revision_line)
        } else {
            ("depends_on", meta.depends_on_line)
        };
        let edges = if uses_depends_on {
            "down_revision and depends_on"
        } else {
            "down_revision"
        };
        out.push(finding(
            StaticCheck::Cycle,
            meta,
            line.or(meta.revision_line),
            format!(
                "revisions form a loop following {edges}: {text}{tangle}; Alembic cannot order \
                 them and refuses to load the history. Break the loop by correcting one \
                 down_revision so it points at an older revision (for example the {field} of \
                 {}, which names '{}')",
                meta.id,
                g.id(next),
            ),
        ));
    }
}

/// One finding per extra file declaring an id already taken.
fn duplicate_revisions(g: &RevisionGraph, out: &mut Vec<Finding>) {
    let mut copies: HashMap<&str, Vec<&str>> = HashMap::new();
    for dup in &g.duplicates {
        copies
            .entry(dup.id.as_str())
            .or_default()
            .push(dup.path.as_str());
    }
    for dup in &g.duplicates {
        let first = g.index[&dup.id];
        let extra = &copies[dup.id.as_str()];
        let files = listed(
            std::iter::once(g.revisions[first].path.as_str())
                .chain(extra.iter().copied())
                .map(|p| format!("'{p}'")),
            extra.len() + 1,
        );
        let followers = &g.children[first];
        let children = if followers.is_empty() {
            String::new()
        } else {
            format!(
                "; revisions naming '{}' as down_revision: {} (decide which file each builds on)",
                dup.id,
                listed(
                    followers.iter().map(|&c| g.id(c).to_owned()),
                    followers.len()
                )
            )
        };
        out.push(finding(
            StaticCheck::DuplicateRevision,
            dup,
            dup.revision_line,
            format!(
                "revision id '{id}' is declared by {count} files: {files}; Alembic keeps only one \
                 of them and the others never run. Give this file a new revision id (Alembic \
                 makes them with uuid.uuid4().hex[-12:]) and point the down_revision of the \
                 revisions that build on this file at it{children}",
                id = dup.id,
                count = extra.len() + 1,
            ),
        ));
    }
}

/// Branch labels Alembic refuses: one label on two revisions, or a label that is also a
/// revision id (labels and ids share one namespace in Alembic's map).
fn duplicate_labels(g: &RevisionGraph, out: &mut Vec<Finding>) {
    for (i, meta) in g.revisions.iter().enumerate() {
        for (k, label) in meta.branch_labels.iter().enumerate() {
            if meta.branch_labels[..k].contains(label) {
                continue;
            }
            let first = g.labels[label][0];
            if first != i {
                out.push(finding(
                    StaticCheck::DuplicateBranchLabel,
                    meta,
                    meta.revision_line,
                    format!(
                        "branch label '{label}' of revision {} is already carried by {}; \
                         Alembic refuses to load a history where one label names two \
                         revisions. Rename the label in one of them",
                        meta.id,
                        described(g, first),
                    ),
                ));
            }
            if let Some(&owner) = g.index.get(label) {
                let whose = if owner == i {
                    "its own id".to_owned()
                } else {
                    format!("the id of {}", described(g, owner))
                };
                out.push(finding(
                    StaticCheck::DuplicateBranchLabel,
                    meta,
                    meta.revision_line,
                    format!(
                        "branch label '{label}' of revision {} is also {whose}; Alembic \
                         refuses to load a history where a label and a revision id clash. \
                         Rename the label",
                        meta.id,
                    ),
                ));
            }
        }
    }
}

/// Checks on one script's upgrade() and downgrade() bodies.
fn script_functions(meta: &RevisionMeta, out: &mut Vec<Finding>) {
    let id = &meta.id;
    if meta.upgrade.kind == BodyKind::Missing {
        out.push(finding(
            StaticCheck::ScriptError,
            meta,
            meta.revision_line,
            format!(
                "revision {id} defines no upgrade() function; Alembic will fail when it \
                 reaches it. Add `def upgrade() -> None:` with the schema change"
            ),
        ));
    }
    if meta.downgrade.kind == BodyKind::Missing {
        out.push(finding(
            StaticCheck::ScriptError,
            meta,
            meta.revision_line,
            format!(
                "revision {id} defines no downgrade() function; Alembic will fail when it \
                 reaches it. Add `def downgrade() -> None:` reversing upgrade(), or one that \
                 raises NotImplementedError to declare it irreversible"
            ),
        ));
    }
    // A merge revision joins branches and normally has nothing to do either way.
    if !meta.is_merge() {
        // Only an implemented upgrade leaves something behind to undo.
        if meta.downgrade.kind == BodyKind::Stub && meta.upgrade.kind == BodyKind::Implemented {
            let line = meta.downgrade.line.or(meta.revision_line);
            if meta.upgrade.data_only || meta.downgrade.explained {
                // Nothing in the schema to undo, or the author says why: worth knowing,
                // not a defect.
                let why = if meta.upgrade.data_only {
                    "upgrade() only migrates data (or removes what may not exist)"
                } else {
                    "a comment in downgrade() says why"
                };
                out.push(finding_as(
                    StaticCheck::StubDowngrade,
                    Severity::Info,
                    meta,
                    line,
                    format!(
                        "downgrade() of revision {id} does nothing, and {why}: downgrading past \
                         {id} keeps its data changes"
                    ),
                ));
            } else {
                out.push(finding(
                    StaticCheck::StubDowngrade,
                    meta,
                    line,
                    format!(
                        "downgrade() of revision {id} does nothing while upgrade() changes the \
                         schema, so downgrading past {id} silently keeps its changes. Write the \
                         reverse of upgrade(), or `raise NotImplementedError(\"...\")` to declare \
                         it irreversible on purpose"
                    ),
                ));
            }
        }
        if meta.upgrade.kind == BodyKind::Stub {
            let line = meta.upgrade.line.or(meta.revision_line);
            if meta.upgrade.explained {
                out.push(finding_as(
                    StaticCheck::StubUpgrade,
                    Severity::Info,
                    meta,
                    line,
                    format!(
                        "upgrade() of revision {id} does nothing on purpose (a comment in it says \
                         why)"
                    ),
                ));
            } else {
                out.push(finding(
                    StaticCheck::StubUpgrade,
                    meta,
                    line,
                    format!(
                        "upgrade() of revision {id} does nothing; an empty migration is usually an \
                         autogenerate that found no change or an edit never saved. Write the schema \
                         change, or delete the revision and point its children's down_revision at \
                         its parent"
                    ),
                ));
            }
        }
    }
    if meta.downgrade.kind == BodyKind::Irreversible {
        out.push(finding(
            StaticCheck::Irreversible,
            meta,
            meta.downgrade.line.or(meta.revision_line),
            format!(
                "downgrade() of revision {id} is declared irreversible: downgrading past {id} \
                 will fail. If that is intended, plan a restore from backup instead of a \
                 downgrade across it"
            ),
        ));
    }
}

/// The operation lint's findings, which the loader read from the script's syntax tree
/// (`_operations.py`): here they get their check's severity, revision and file.
fn operations(meta: &RevisionMeta, out: &mut Vec<Finding>) {
    for note in &meta.operations {
        match note.check.parse::<StaticCheck>() {
            Ok(check) if check.is_operation() => {
                out.push(finding(check, meta, note.line, note.message.clone()));
            }
            // The loader and this core ship together: another id is a bug in one of them,
            // which the tests must catch; a user's run leaves the note out.
            _ if cfg!(debug_assertions) => panic!("not an operation check: {}", note.check),
            _ => {}
        }
    }
}

fn finding(check: StaticCheck, meta: &RevisionMeta, line: Option<u32>, message: String) -> Finding {
    finding_as(check, check.severity(), meta, line, message)
}

/// A finding of `check` at another severity than its own.
fn finding_as(
    check: StaticCheck,
    severity: Severity,
    meta: &RevisionMeta,
    line: Option<u32>,
    message: String,
) -> Finding {
    Finding::new(check.id(), severity, message).at(Some(&meta.id), Some(&meta.path), line)
}

fn described(g: &RevisionGraph, i: usize) -> String {
    let meta = &g.revisions[i];
    format!("{} ({})", meta.id, meta.path)
}

/// The first [`LIST_LIMIT`] items, then "and N more" out of `total`.
fn listed(items: impl Iterator<Item = String>, total: usize) -> String {
    let shown: Vec<String> = items.take(LIST_LIMIT).collect();
    let mut text = shown.join(", ");
    if total > shown.len() {
        text.push_str(&format!(" and {} more", total - shown.len()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use crate::finding::Severity;
    use crate::revision::OperationNote;

    fn check(revisions: Vec<RevisionMeta>) -> Vec<Finding> {
        RevisionGraph::build(revisions).check()
    }

    #[test]
    fn healthy_histories_have_no_findings() {
        assert!(check(vec![rev("a", &[]), rev("b", &["a"]), rev("c", &["b"])]).is_empty());
        assert!(check(branched_and_merged()).is_empty());
        assert!(check(vec![]).is_empty());
    }

    #[test]
    fn multiple_heads_names_every_head() {
        let found = check(vec![rev("a", &[]), rev("b", &["a"]), rev("c", &["a"])]);
        assert_eq!(codes(&found), ["multiple-heads", "multiple-heads"]);
        let f = &found[0];
        assert_eq!(f.severity, Severity::Error);
        assert_eq!(f.revision.as_deref(), Some("b"));
        assert_eq!(f.path.as_deref(), Some("versions/b.py"));
        assert_eq!(f.line, Some(10));
        assert!(
            f.message.contains("b (versions/b.py), c (versions/c.py)"),
            "{}",
            f.message
        );
        assert!(
            f.message.contains("alembic merge heads -m \"merge\""),
            "{}",
            f.message
        );
        assert_eq!(found[1].revision.as_deref(), Some("c"));
    }

    #[test]
    fn independent_labelled_bases_are_not_multiple_heads_or_bases() {
        let found = check(vec![
            rev("a", &[]),
            rev("b", &["a"]),
            labelled(rev("s1", &[]), &["shop"]),
            rev("s2", &["s1"]),
            // Labelled further down its own chain: still declared.
            rev("t1", &[]),
            labelled(rev("t2", &["t1"]), &["tools"]),
            rev("t3", &["t2"]),
        ]);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn extra_heads_inside_a_declared_lineage_are_still_flagged() {
        let found = check(vec![
            rev("a", &[]),
            rev("b", &["a"]),
            labelled(rev("s1", &[]), &["shop"]),
            rev("s2", &["s1"]),
            rev("s3", &["s1"]),
        ]);
        let heads = of(&found, "multiple-heads");
        let named: Vec<_> = heads
            .iter()
            .map(|f| f.revision.as_deref().unwrap())
            .collect();
        assert_eq!(named, ["s2", "s3"]);
        // Merging everything would swallow the main line too: name the two explicitly.
        assert!(
            heads[0]
                .message
                .contains("alembic merge -m \"merge\" s2 s3"),
            "{}",
            heads[0].message
        );
        assert!(of(&found, "multiple-bases").is_empty());
    }

    #[test]
    fn a_label_past_a_branch_point_does_not_declare_the_base() {
        let found = check(vec![
            rev("a", &[]),
            rev("b", &["a"]),
            rev("x1", &[]),
            rev("x2", &["x1"]),
            labelled(rev("x3", &["x1"]), &["late"]),
            rev("m", &["x2", "x3"]),
        ]);
        assert_eq!(of(&found, "multiple-bases").len(), 2);
        assert_eq!(of(&found, "multiple-heads").len(), 2);
    }

    #[test]
    fn multiple_bases_warns_on_each_unlabelled_base() {
        let found = check(vec![
            rev("a", &[]),
            rev("b", &["a"]),
            rev("x", &[]),
            labelled(rev("s", &[]), &["shop"]),
        ]);
        let bases = of(&found, "multiple-bases");
        assert_eq!(bases.len(), 2);
        assert_eq!(bases[0].severity, Severity::Warning);
        assert_eq!(bases[0].revision.as_deref(), Some("a"));
        assert_eq!(bases[0].line, Some(11));
        assert!(
            bases[0].message.contains("neither does x (versions/x.py)"),
            "{}",
            bases[0].message
        );
        assert!(bases[0].message.contains("--branch-label"));
        // Two unlabelled lineages also mean two heads to merge; the labelled one is left out.
        let heads = of(&found, "multiple-heads");
        let named: Vec<_> = heads
            .iter()
            .map(|f| f.revision.as_deref().unwrap())
            .collect();
        assert_eq!(named, ["b", "x"]);
    }

    #[test]
    fn unlabelled_bases_merged_later_still_warn_but_have_one_head() {
        let found = check(vec![rev("a", &[]), rev("x", &[]), rev("m", &["a", "x"])]);
        assert_eq!(codes(&found), ["multiple-bases", "multiple-bases"]);
    }

    #[test]
    fn missing_parent_names_what_is_cut_off_and_the_candidates() {
        let found = check(vec![
            rev("a1b2c3d4e5f6", &[]),
            rev("b", &["a1b2c3d4e5f6"]),
            rev("d", &["zzz"]),
            rev("e", &["d"]),
            rev("f", &["e"]),
        ]);
        assert_eq!(codes(&found), ["missing-parent"]);
        let f = &found[0];
        assert_eq!(f.revision.as_deref(), Some("d"));
        assert_eq!(f.line, Some(11));
        assert!(
            f.message.starts_with(
                "down_revision 'zzz' of revision d names no revision, so Alembic cannot load \
                 the history; this cuts off d and 2 descendant(s): e, f."
            ),
            "{}",
            f.message
        );
        assert!(
            f.message.contains("candidates: b (versions/b.py)"),
            "{}",
            f.message
        );
        assert!(!f.message.contains("f (versions/f.py)"), "{}", f.message);

        let found = check(vec![rev("a1b2c3d4e5f6", &[]), rev("b", &["a1b2c3"])]);
        assert!(
            found[0].message.contains("did you mean 'a1b2c3d4e5f6'?"),
            "{}",
            found[0].message
        );
        assert!(
            found[0].message.contains("this cuts off b."),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn missing_depends_on_is_reported_but_a_label_resolves() {
        let found = check(vec![
            rev("a", &[]),
            deps(rev("b", &["a"]), &["nolabel"]),
            labelled(rev("s", &[]), &["shop"]),
            deps(rev("c", &["b"]), &["shop"]),
        ]);
        assert_eq!(codes(&found), ["missing-parent"]);
        assert_eq!(found[0].line, Some(13));
        assert!(
            found[0]
                .message
                .starts_with("depends_on 'nolabel' of revision b")
        );
        assert!(
            found[0]
                .message
                .contains("cuts off b and 1 descendant(s): c")
        );
    }

    #[test]
    fn many_missing_parents_stay_cheap() {
        let n = 3000;
        let mut revisions = vec![deps(rev("r0", &[]), &["gone"])];
        for i in 1..n {
            let prev = format!("r{}", i - 1);
            revisions.push(deps(rev(&format!("r{i}"), &[&prev]), &["gone"]));
        }
        let found = check(revisions);
        assert_eq!(found.len(), n);
        assert!(
            found
                .iter()
                .any(|f| f.message.contains("at least 100 descendant(s)"))
        );
        let first = found
            .iter()
            .find(|f| f.revision.as_deref() == Some("r0"))
            .unwrap();
        assert!(
            first.message.contains("r0 and 2999 descendant(s): r1, r2"),
            "{}",
            first.message
        );
        assert!(first.message.contains("and 2989 more"), "{}", first.message);
    }

    #[test]
    fn cut_off_lineage_is_not_also_multiple_heads() {
        let found = check(vec![rev("a", &[]), rev("b", &["a"]), rev("d", &["gone"])]);
        assert_eq!(codes(&found), ["missing-parent"]);
    }

    #[test]
    fn loops_of_one_two_and_three_with_a_missing_parent_are_all_reported() {
        let g = RevisionGraph::build(vec![
            rev("base", &[]),
            rev("head", &["base"]),
            rev("self", &["self"]),
            rev("p", &["q"]),
            rev("q", &["p"]),
            rev("x", &["y"]),
            rev("y", &["z"]),
            rev("z", &["x"]),
            rev("lost", &["nowhere"]),
        ]);
        let found = g.check();
        let loops = of(&found, "cycle");
        let texts: Vec<_> = loops.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(loops.len(), 3, "{texts:?}");
        assert!(
            texts.iter().any(|m| m.contains(": self -> self;")),
            "{texts:?}"
        );
        assert!(
            texts.iter().any(|m| m.contains(": p -> q -> p;")),
            "{texts:?}"
        );
        assert!(
            texts.iter().any(|m| m.contains(": x -> y -> z -> x;")),
            "{texts:?}"
        );
        let xyz = loops.iter().find(|f| f.message.contains("x -> y")).unwrap();
        assert_eq!(xyz.revision.as_deref(), Some("x"));
        assert_eq!(xyz.path.as_deref(), Some("versions/x.py"));
        assert_eq!(xyz.line, Some(11));
        assert!(xyz.message.contains("down_revision of x, which names 'y'"));
        assert_eq!(of(&found, "missing-parent").len(), 1);
        assert_eq!(g.order().len(), 9);
    }

    #[test]
    fn loop_through_depends_on_says_so() {
        let found = check(vec![
            rev("a", &[]),
            deps(rev("b", &["a"]), &["c"]),
            rev("c", &["b"]),
        ]);
        assert_eq!(codes(&found), ["cycle"]);
        assert!(
            found[0].message.contains("b -(depends_on)-> c -> b"),
            "{}",
            found[0].message
        );
        assert!(found[0].message.contains("down_revision and depends_on"));
        assert_eq!(found[0].line, Some(13));
    }

    #[test]
    fn a_tangled_loop_lists_the_extra_members() {
        // a -> b -> a is the shortest loop from a; c sits in the same tangle.
        let found = check(vec![
            rev("a", &["b"]),
            rev("b", &["a", "c"]),
            rev("c", &["b"]),
        ]);
        let loops = of(&found, "cycle");
        assert_eq!(loops.len(), 1);
        assert!(
            loops[0].message.contains("a -> b -> a (1 more revision(s)"),
            "{}",
            loops[0].message
        );
    }

    #[test]
    fn duplicate_revision_names_every_file() {
        let copy = |path: &str| {
            let mut r = rev("b", &["a"]);
            r.path = path.into();
            r
        };
        let found = check(vec![
            rev("a", &[]),
            rev("b", &["a"]),
            copy("versions/b_again.py"),
            copy("versions/b_third.py"),
            rev("c", &["b"]),
        ]);
        let dups = of(&found, "duplicate-revision");
        assert_eq!(dups.len(), 2);
        assert_eq!(dups[0].path.as_deref(), Some("versions/b_again.py"));
        assert_eq!(dups[1].path.as_deref(), Some("versions/b_third.py"));
        for f in &dups {
            assert!(
                f.message.contains(
                    "declared by 3 files: 'versions/b.py', 'versions/b_again.py', \
                     'versions/b_third.py'"
                ),
                "{}",
                f.message
            );
            assert!(f.message.contains("uuid.uuid4().hex[-12:]"));
            assert!(f.message.contains("as down_revision: c"));
        }
        assert_eq!(found.len(), 2, "{found:?}");
    }

    #[test]
    fn clashing_branch_labels_are_reported() {
        let found = check(vec![
            labelled(rev("a", &[]), &["main"]),
            labelled(rev("s", &[]), &["main"]),
            labelled(rev("t", &[]), &["a"]),
        ]);
        let clashes = of(&found, "duplicate-branch-label");
        assert_eq!(clashes.len(), 2, "{found:?}");
        assert!(clashes.iter().any(|f| f.revision.as_deref() == Some("s")
            && f.message.contains("already carried by a (versions/a.py)")));
        assert!(clashes.iter().any(|f| f.revision.as_deref() == Some("t")
            && f.message.contains("also the id of a (versions/a.py)")));
    }

    #[test]
    fn stub_findings_are_info_when_nothing_in_the_schema_needs_undoing() {
        use BodyKind::*;
        let mut data = bodies(rev("a", &[]), Implemented, Stub);
        data.upgrade.data_only = true;
        let found = check(vec![data]);
        assert_eq!(codes(&found), ["stub-downgrade"]);
        assert_eq!(found[0].severity, Severity::Info);
        assert!(found[0].message.contains("only migrates data"));

        let mut explained = bodies(rev("a", &[]), Implemented, Stub);
        explained.downgrade.explained = true;
        assert_eq!(check(vec![explained])[0].severity, Severity::Info);

        let mut no_op = bodies(rev("a", &[]), Stub, Stub);
        no_op.upgrade.explained = true;
        let found = check(vec![no_op]);
        assert_eq!(codes(&found), ["stub-upgrade"]);
        assert_eq!(found[0].severity, Severity::Info);
    }

    #[test]
    fn stub_downgrade_fires_only_when_upgrade_does_something() {
        use BodyKind::*;
        let found = check(vec![bodies(rev("a", &[]), Implemented, Stub)]);
        assert_eq!(codes(&found), ["stub-downgrade"]);
        assert_eq!(found[0].severity, Severity::Error);
        assert_eq!(found[0].line, Some(30));
        assert!(found[0].message.contains("raise NotImplementedError"));

        let found = check(vec![bodies(rev("a", &[]), Stub, Stub)]);
        assert_eq!(codes(&found), ["stub-upgrade"]);
        assert_eq!(found[0].severity, Severity::Warning);
        assert_eq!(found[0].line, Some(20));

        // Merges have nothing to do either way.
        let mut merged = branched_and_merged();
        let m = merged.pop().unwrap();
        merged.push(bodies(m, Stub, Stub));
        assert!(check(merged.clone()).is_empty());
        let m = merged.pop().unwrap();
        merged.push(bodies(m, Implemented, Stub));
        assert!(check(merged).is_empty());
    }

    #[test]
    fn operation_notes_become_findings_with_their_checks_severity() {
        let mut meta = rev("a", &[]);
        meta.operations = vec![
            OperationNote {
                check: "drop-column".into(),
                line: Some(22),
                message: "upgrade() drops column t.c".into(),
            },
            OperationNote {
                check: "index-without-concurrently".into(),
                line: Some(23),
                message: "upgrade() creates index ix".into(),
            },
        ];
        let found = check(vec![meta]);
        assert_eq!(codes(&found), ["drop-column", "index-without-concurrently"]);
        assert_eq!(found[0].severity, Severity::Warning);
        assert_eq!(found[0].line, Some(22));
        assert_eq!(found[0].revision.as_deref(), Some("a"));
        assert_eq!(found[0].path.as_deref(), Some("versions/a.py"));
        assert_eq!(found[0].message, "upgrade() drops column t.c");
        assert_eq!(found[1].severity, Severity::Info);
    }

    #[test]
    #[should_panic(expected = "not an operation check: multiple-heads")]
    fn a_note_naming_another_check_is_a_bug() {
        let mut meta = rev("a", &[]);
        meta.operations = vec![OperationNote {
            check: "multiple-heads".into(),
            line: None,
            message: String::new(),
        }];
        check(vec![meta]);
    }

    #[test]
    fn irreversible_downgrade_is_info() {
        let found = check(vec![bodies(
            rev("a", &[]),
            BodyKind::Implemented,
            BodyKind::Irreversible,
        )]);
        assert_eq!(codes(&found), ["irreversible"]);
        assert_eq!(found[0].severity, Severity::Info);
        assert!(
            found[0]
                .message
                .contains("declared irreversible: downgrading past a will fail")
        );
    }

    #[test]
    fn missing_functions_are_script_errors() {
        let found = check(vec![bodies(
            rev("a", &[]),
            BodyKind::Missing,
            BodyKind::Missing,
        )]);
        assert_eq!(codes(&found), ["script-error", "script-error"]);
        assert!(
            found
                .iter()
                .any(|f| f.message.contains("defines no upgrade() function"))
        );
        assert!(
            found.iter().any(|f| f
                .message
                .contains("defines no downgrade() function; Alembic will fail when it reaches it"))
        );
        assert_eq!(found[0].line, Some(10));
    }

    #[test]
    fn script_errors_become_findings() {
        let found = script_error_findings(&[
            ScriptError {
                path: "versions/z.py".into(),
                line: Some(3),
                message: "SyntaxError: invalid syntax".into(),
            },
            ScriptError {
                path: "versions/a.py".into(),
                line: None,
                message: "ImportError: no module named foo".into(),
            },
        ]);
        assert_eq!(codes(&found), ["script-error", "script-error"]);
        assert_eq!(found[0].path.as_deref(), Some("versions/a.py"));
        assert_eq!(found[1].line, Some(3));
        assert!(
            found[1]
                .message
                .starts_with("could not load: SyntaxError: invalid syntax; fix the script")
        );
        assert_eq!(found[1].revision, None);
    }

    #[test]
    fn a_thoroughly_broken_history_is_reported_completely_and_sorted() {
        let mut copy = rev("b", &["a"]);
        copy.path = "versions/b2.py".into();
        let g = RevisionGraph::build(vec![
            rev("a", &[]),
            bodies(rev("b", &["a"]), BodyKind::Implemented, BodyKind::Stub),
            copy,
            rev("c", &["a"]),
            rev("x", &["x"]),
            rev("y", &["gone"]),
            rev("other", &[]),
        ]);
        let found = g.check();
        for id in [
            "multiple-heads",
            "multiple-bases",
            "missing-parent",
            "cycle",
            "duplicate-revision",
            "stub-downgrade",
        ] {
            assert!(codes(&found).contains(&id), "{id} missing from {found:?}");
        }
        let mut sorted = found.clone();
        sort_findings(&mut sorted);
        assert_eq!(found, sorted);
        for f in &found {
            assert!(f.check.parse::<StaticCheck>().is_ok());
            assert!(
                f.path.is_some() && f.revision.is_some() && f.line.is_some(),
                "{f:?}"
            );
        }
    }
}
