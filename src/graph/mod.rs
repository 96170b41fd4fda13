//! The revision graph: which revision follows which, built once from the loaded scripts,
//! plus the static checks over it.
//!
//! Revisions are addressed internally by their position in the input, so every map and
//! adjacency list is a `Vec` indexed by that position and ties always break by input order.

mod checks;
mod error;
mod order;
mod static_check;
#[cfg(test)]
mod testutil;

pub use checks::script_error_findings;
pub use error::GraphError;
pub use static_check::StaticCheck;

use std::collections::{HashMap, VecDeque};

use crate::finding::Finding;
use crate::revision::RevisionMeta;

/// The field of a script a reference was read from, to point findings at the right line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefField {
    DownRevision,
    DependsOn,
}

/// A `down_revision` or `depends_on` entry that names nothing in the history.
#[derive(Debug, Clone)]
struct MissingRef {
    rev: usize,
    field: RefField,
    name: String,
}

/// Revisions and the edges between them. Never fails to build: broken histories are
/// what this tool exists to report, so every oddity is kept for [`RevisionGraph::check`].
#[derive(Debug, Clone, Default)]
pub struct RevisionGraph {
    revisions: Vec<RevisionMeta>,
    duplicates: Vec<RevisionMeta>,
    index: HashMap<String, usize>,
    /// Every carrier of a label, in input order; more than one is a finding, not a panic.
    labels: HashMap<String, Vec<usize>>,
    /// Indices sorted by id, so prefix lookups are a binary search.
    by_id: Vec<usize>,
    /// Existing down_revisions.
    parents: Vec<Vec<usize>>,
    /// Inverse of `parents`.
    children: Vec<Vec<usize>>,
    /// Existing depends_on targets, labels resolved.
    deps: Vec<Vec<usize>>,
    /// `parents` and `deps` together, deduplicated: what must be applied first.
    preds: Vec<Vec<usize>>,
    /// Inverse of `preds`.
    succs: Vec<Vec<usize>>,
    missing: Vec<MissingRef>,
}

impl RevisionGraph {
    /// Never fails: duplicates (second and later files declaring an id) are kept aside for
    /// the duplicate check; missing parents and cycles are tolerated.
    pub fn build(revisions: Vec<RevisionMeta>) -> RevisionGraph {
        let mut unique = Vec::with_capacity(revisions.len());
        let mut duplicates = Vec::new();
        let mut index = HashMap::with_capacity(revisions.len());
        for meta in revisions {
            if index.contains_key(&meta.id) {
                duplicates.push(meta);
            } else {
                index.insert(meta.id.clone(), unique.len());
                unique.push(meta);
            }
        }

        let n = unique.len();
        let mut labels: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, meta) in unique.iter().enumerate() {
            for label in &meta.branch_labels {
                let carriers = labels.entry(label.clone()).or_default();
                if !carriers.contains(&i) {
                    carriers.push(i);
                }
            }
        }

        let mut by_id: Vec<usize> = (0..n).collect();
        by_id.sort_unstable_by(|&a, &b| unique[a].id.cmp(&unique[b].id));

        let mut parents = vec![Vec::new(); n];
        let mut children = vec![Vec::new(); n];
        let mut deps = vec![Vec::new(); n];
        let mut preds = vec![Vec::new(); n];
        let mut succs = vec![Vec::new(); n];
        let mut missing = Vec::new();
        for (i, meta) in unique.iter().enumerate() {
            for name in &meta.down_revisions {
                match index.get(name) {
                    Some(&p) => push_new(&mut parents[i], p),
                    None => missing.push(MissingRef {
                        rev: i,
                        field: RefField::DownRevision,
                        name: name.clone(),
                    }),
                }
            }
            for name in &meta.depends_on {
                // Ids win over labels, as in Alembic's map where a clash is an error anyway.
                let target = index
                    .get(name)
                    .copied()
                    .or_else(|| labels.get(name).map(|c| c[0]));
                match target {
                    Some(d) => push_new(&mut deps[i], d),
                    None => missing.push(MissingRef {
                        rev: i,
                        field: RefField::DependsOn,
                        name: name.clone(),
                    }),
                }
            }
            for &p in parents[i].iter().chain(&deps[i]) {
                push_new(&mut preds[i], p);
            }
        }
        for i in 0..n {
            for &p in &parents[i] {
                children[p].push(i);
            }
            for &p in &preds[i] {
                succs[p].push(i);
            }
        }

        RevisionGraph {
            revisions: unique,
            duplicates,
            index,
            labels,
            by_id,
            parents,
            children,
            deps,
            preds,
            succs,
            missing,
        }
    }

    /// Unique revisions, in the order given.
    pub fn revisions(&self) -> &[RevisionMeta] {
        &self.revisions
    }

    /// Second and later files declaring an id already taken, in the order given.
    pub fn duplicates(&self) -> &[RevisionMeta] {
        &self.duplicates
    }

    /// The revision with exactly this id.
    pub fn get(&self, id: &str) -> Option<&RevisionMeta> {
        self.index.get(id).map(|&i| &self.revisions[i])
    }

    pub fn len(&self) -> usize {
        self.revisions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.revisions.is_empty()
    }

    /// The down_revisions of `id` that exist, in declared order. Empty for unknown ids.
    pub fn parents(&self, id: &str) -> Vec<&str> {
        self.related(id, &self.parents)
    }

    /// Revisions whose down_revision names `id`, in input order.
    pub fn children(&self, id: &str) -> Vec<&str> {
        self.related(id, &self.children)
    }

    /// The depends_on of `id` that resolve (ids, or branch labels to the revision carrying
    /// the label), in declared order.
    pub fn dependencies(&self, id: &str) -> Vec<&str> {
        self.related(id, &self.deps)
    }

    /// Revisions no down_revision names. A depends_on does not make a revision stop being
    /// a head, as in Alembic.
    pub fn heads(&self) -> Vec<&str> {
        self.ids(self.head_indices())
    }

    /// Revisions without a down_revision. One whose down_revision names nothing is not a
    /// base: it is cut off, and reported as such.
    pub fn bases(&self) -> Vec<&str> {
        self.ids(self.base_indices())
    }

    /// Revisions with more than one child.
    pub fn branch_points(&self) -> Vec<&str> {
        self.ids((0..self.len()).filter(|&i| self.children[i].len() > 1))
    }

    /// Revisions declaring more than one down_revision.
    pub fn merge_points(&self) -> Vec<&str> {
        self.ids((0..self.len()).filter(|&i| self.revisions[i].is_merge()))
    }

    /// `(label, revision id)` for every branch label, in input order.
    pub fn branch_labels(&self) -> Vec<(&str, &str)> {
        self.revisions
            .iter()
            .flat_map(|r| r.branch_labels.iter().map(|l| (l.as_str(), r.id.as_str())))
            .collect()
    }

    /// Turns what a user typed into a revision id: an exact id, a branch label, `head`,
    /// `<label or revision>@head`, or a unique id prefix, tried in that order.
    pub fn resolve(&self, target: &str) -> Result<&str, GraphError> {
        self.resolve_index(target).map(|i| self.id(i))
    }

    /// Topological order base -> head: every revision after its down_revisions and its
    /// depends_on. Ties break by input order. Revisions in loops, or only reachable through
    /// one, come last in input order so nothing is lost.
    pub fn order(&self) -> Vec<&str> {
        self.ids(self.order_indices())
    }

    /// Revisions to apply, in order, to go from `from` (None = empty database) up to `to`:
    /// ancestors of `to` (down_revisions and depends_on, inclusive) minus ancestors of
    /// `from` (inclusive).
    pub fn upgrade_path(&self, from: Option<&str>, to: &str) -> Result<Vec<&str>, GraphError> {
        let from: Vec<&str> = from.into_iter().collect();
        self.upgrade_path_from(&from, to)
    }

    /// [`upgrade_path`](Self::upgrade_path) from a database stamped at several revisions
    /// (one `alembic_version` row per applied branch). Each must be an ancestor of `to`.
    pub fn upgrade_path_from(&self, from: &[&str], to: &str) -> Result<Vec<&str>, GraphError> {
        let to_i = self.resolve_index(to)?;
        let wanted = self.reach(&[to_i], &self.preds);
        let mut starts = Vec::with_capacity(from.len());
        for &f in from {
            let f_i = self.resolve_index(f)?;
            if !wanted[f_i] {
                return Err(GraphError::NotAncestor {
                    from: self.id(f_i).to_owned(),
                    to: self.id(to_i).to_owned(),
                });
            }
            starts.push(f_i);
        }
        let applied = self.reach(&starts, &self.preds);
        Ok(self.ids(
            self.order_indices()
                .into_iter()
                .filter(|&i| wanted[i] && !applied[i]),
        ))
    }

    /// Everything `id` needs applied first (down_revisions and depends_on, transitively),
    /// excluding `id`, in input order. Empty for unknown ids.
    pub fn ancestors(&self, id: &str) -> Vec<&str> {
        self.reach_ids(id, &self.preds)
    }

    /// Everything that needs `id` applied first, transitively, excluding `id`, in input
    /// order. Empty for unknown ids.
    pub fn descendants(&self, id: &str) -> Vec<&str> {
        self.reach_ids(id, &self.succs)
    }

    /// All graph and script checks, sorted with [`crate::finding::sort_findings`].
    pub fn check(&self) -> Vec<Finding> {
        checks::run(self)
    }

    fn id(&self, i: usize) -> &str {
        &self.revisions[i].id
    }

    fn ids(&self, indices: impl IntoIterator<Item = usize>) -> Vec<&str> {
        indices.into_iter().map(|i| self.id(i)).collect()
    }

    fn related(&self, id: &str, edges: &[Vec<usize>]) -> Vec<&str> {
        match self.index.get(id) {
            Some(&i) => self.ids(edges[i].iter().copied()),
            None => Vec::new(),
        }
    }

    fn head_indices(&self) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.children[i].is_empty())
            .collect()
    }

    fn base_indices(&self) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.revisions[i].is_base())
            .collect()
    }

    fn order_indices(&self) -> Vec<usize> {
        order::topological(&self.preds, &self.succs)
    }

    /// Marks everything reachable from `starts` along `edges`, the starts included.
    fn reach(&self, starts: &[usize], edges: &[Vec<usize>]) -> Vec<bool> {
        let mut seen = vec![false; self.len()];
        let mut stack = Vec::new();
        for &s in starts {
            if !seen[s] {
                seen[s] = true;
                stack.push(s);
            }
        }
        while let Some(v) = stack.pop() {
            for &w in &edges[v] {
                if !seen[w] {
                    seen[w] = true;
                    stack.push(w);
                }
            }
        }
        seen
    }

    fn reach_ids(&self, id: &str, edges: &[Vec<usize>]) -> Vec<&str> {
        let Some(&start) = self.index.get(id) else {
            return Vec::new();
        };
        let seen = self.reach(&[start], edges);
        self.ids((0..self.len()).filter(|&i| seen[i] && i != start))
    }

    /// Revisions reachable from `start` along `succs`, nearest first, excluding `start`,
    /// stopping after `limit` so a report over many broken revisions stays linear.
    /// Returns the revisions found and whether the walk was cut short.
    fn descendants_bfs(&self, start: usize, limit: usize) -> (Vec<usize>, bool) {
        let mut seen = std::collections::HashSet::from([start]);
        let mut found = Vec::new();
        let mut queue = VecDeque::from([start]);
        while let Some(v) = queue.pop_front() {
            for &w in &self.succs[v] {
                if seen.insert(w) {
                    if found.len() == limit {
                        return (found, true);
                    }
                    found.push(w);
                    queue.push_back(w);
                }
            }
        }
        (found, false)
    }

    /// Ids starting with `prefix`, in id order.
    fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = usize> + 'a {
        let from = self
            .by_id
            .partition_point(|&i| self.revisions[i].id.as_str() < prefix);
        self.by_id[from..]
            .iter()
            .copied()
            .take_while(move |&i| self.revisions[i].id.starts_with(prefix))
    }

    fn resolve_index(&self, target: &str) -> Result<usize, GraphError> {
        let unknown = || GraphError::UnknownRevision {
            target: target.to_owned(),
        };
        if target.is_empty() {
            return Err(unknown());
        }
        if let Some(&i) = self.index.get(target) {
            return Ok(i);
        }
        if let Some(carriers) = self.labels.get(target) {
            return match carriers.as_slice() {
                [only] => Ok(*only),
                many => Err(GraphError::AmbiguousRevision {
                    target: target.to_owned(),
                    candidates: many
                        .iter()
                        .take(10)
                        .map(|&i| self.id(i).to_owned())
                        .collect(),
                }),
            };
        }
        if target == "head" {
            return self.single_head(target, self.head_indices());
        }
        if let Some(branch) = target.strip_suffix("@head") {
            let start = self.resolve_index(branch)?;
            let mut on_branch = self.reach(&[start], &self.children);
            on_branch[start] = true;
            let heads = (0..self.len())
                .filter(|&i| on_branch[i] && self.children[i].is_empty())
                .collect();
            return self.single_head(target, heads);
        }
        let matches: Vec<usize> = self.with_prefix(target).take(11).collect();
        match matches.as_slice() {
            [] => Err(unknown()),
            [only] => Ok(*only),
            many => Err(GraphError::AmbiguousRevision {
                target: target.to_owned(),
                candidates: many
                    .iter()
                    .take(10)
                    .map(|&i| self.id(i).to_owned())
                    .collect(),
            }),
        }
    }

    fn single_head(&self, target: &str, heads: Vec<usize>) -> Result<usize, GraphError> {
        match heads.as_slice() {
            [] => Err(GraphError::NoHead {
                target: target.to_owned(),
            }),
            [only] => Ok(*only),
            many => Err(GraphError::MultipleHeads {
                target: target.to_owned(),
                heads: many.iter().map(|&i| self.id(i).to_owned()).collect(),
            }),
        }
    }
}

fn push_new(list: &mut Vec<usize>, value: usize) {
    if !list.contains(&value) {
        list.push(value);
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    #[test]
    fn linear_history_queries() {
        let g = RevisionGraph::build(vec![rev("a", &[]), rev("b", &["a"]), rev("c", &["b"])]);
        assert_eq!(g.len(), 3);
        assert!(!g.is_empty());
        assert_eq!(g.heads(), ["c"]);
        assert_eq!(g.bases(), ["a"]);
        assert_eq!(g.order(), ["a", "b", "c"]);
        assert_eq!(g.parents("b"), ["a"]);
        assert_eq!(g.children("b"), ["c"]);
        assert_eq!(g.ancestors("c"), ["a", "b"]);
        assert_eq!(g.descendants("a"), ["b", "c"]);
        assert!(g.branch_points().is_empty());
        assert!(g.merge_points().is_empty());
        assert_eq!(g.get("b").unwrap().path, "versions/b.py");
        assert!(g.get("zz").is_none());
        assert!(g.parents("zz").is_empty());
        assert!(RevisionGraph::build(vec![]).is_empty());
    }

    #[test]
    fn branch_and_merge_queries() {
        let g = RevisionGraph::build(branched_and_merged());
        assert_eq!(g.heads(), ["m"]);
        assert_eq!(g.branch_points(), ["a"]);
        assert_eq!(g.merge_points(), ["m"]);
        assert_eq!(g.children("a"), ["b1", "c1"]);
        assert_eq!(g.parents("m"), ["b2", "c1"]);
        assert_eq!(g.order(), ["a", "b1", "c1", "b2", "m"]);
    }

    #[test]
    fn order_is_deterministic_and_follows_input_order_on_ties() {
        let input = branched_and_merged();
        let first = RevisionGraph::build(input.clone()).order().join(",");
        for _ in 0..20 {
            assert_eq!(RevisionGraph::build(input.clone()).order().join(","), first);
        }
        // Reversing the input reverses the tie-breaks, never the dependencies.
        let mut reversed = input;
        reversed.reverse();
        let g = RevisionGraph::build(reversed);
        assert_eq!(g.order(), ["a", "c1", "b1", "b2", "m"]);
    }

    #[test]
    fn order_respects_depends_on() {
        // x depends on b even though it is listed first and is its own base.
        let g = RevisionGraph::build(vec![
            labelled(deps(rev("x", &[]), &["b"]), &["other"]),
            rev("a", &[]),
            rev("b", &["a"]),
        ]);
        assert_eq!(g.order(), ["a", "b", "x"]);
        assert_eq!(g.dependencies("x"), ["b"]);
        // depends_on does not stop b from being a head.
        assert_eq!(g.heads(), ["x", "b"]);
    }

    #[test]
    fn depends_on_a_branch_label_resolves_to_its_carrier() {
        let g = RevisionGraph::build(vec![
            rev("a", &[]),
            labelled(rev("s1", &[]), &["shop"]),
            deps(rev("b", &["a"]), &["shop"]),
        ]);
        assert_eq!(g.dependencies("b"), ["s1"]);
        assert_eq!(g.ancestors("b"), ["a", "s1"]);
        assert_eq!(g.branch_labels(), [("shop", "s1")]);
        assert!(codes(&g.check()).is_empty(), "{:?}", g.check());
    }

    #[test]
    fn order_keeps_looping_revisions_at_the_end() {
        let g = RevisionGraph::build(vec![
            rev("x", &["y"]),
            rev("a", &[]),
            rev("y", &["x"]),
            rev("z", &["y"]),
            rev("b", &["a"]),
        ]);
        assert_eq!(g.order(), ["a", "b", "x", "y", "z"]);
    }

    #[test]
    fn upgrade_path_across_a_merge() {
        let g = RevisionGraph::build(branched_and_merged());
        assert_eq!(
            g.upgrade_path(None, "m").unwrap(),
            ["a", "b1", "c1", "b2", "m"]
        );
        assert_eq!(g.upgrade_path(Some("b1"), "m").unwrap(), ["c1", "b2", "m"]);
        assert_eq!(g.upgrade_path(Some("c1"), "m").unwrap(), ["b1", "b2", "m"]);
        assert_eq!(g.upgrade_path(Some("a"), "b2").unwrap(), ["b1", "b2"]);
        assert!(g.upgrade_path(Some("m"), "m").unwrap().is_empty());
        assert_eq!(g.upgrade_path_from(&["b2", "c1"], "m").unwrap(), ["m"]);
        assert_eq!(
            g.upgrade_path(Some("c1"), "b2"),
            Err(GraphError::NotAncestor {
                from: "c1".into(),
                to: "b2".into()
            })
        );
        assert!(matches!(
            g.upgrade_path(None, "nope"),
            Err(GraphError::UnknownRevision { .. })
        ));
        assert!(matches!(
            g.upgrade_path(Some("nope"), "m"),
            Err(GraphError::UnknownRevision { .. })
        ));
    }

    #[test]
    fn upgrade_path_includes_depends_on() {
        let g = RevisionGraph::build(vec![
            rev("a", &[]),
            labelled(rev("s1", &[]), &["shop"]),
            rev("s2", &["s1"]),
            deps(rev("b", &["a"]), &["shop"]),
        ]);
        assert_eq!(g.upgrade_path(None, "b").unwrap(), ["a", "s1", "b"]);
        assert_eq!(g.upgrade_path(Some("a"), "b").unwrap(), ["s1", "b"]);
    }

    #[test]
    fn resolve_by_id_prefix_label_and_head() {
        let g = RevisionGraph::build(vec![
            rev("ae1027a6acf", &[]),
            rev("ae10ffff0000", &["ae1027a6acf"]),
            labelled(rev("1975ea83b712", &["ae10ffff0000"]), &["main"]),
            rev("27c6a30d7c24", &["1975ea83b712"]),
        ]);
        assert_eq!(g.resolve("ae1027a6acf"), Ok("ae1027a6acf"));
        assert_eq!(g.resolve("1975"), Ok("1975ea83b712"));
        assert_eq!(g.resolve("2"), Ok("27c6a30d7c24"));
        assert_eq!(g.resolve("main"), Ok("1975ea83b712"));
        assert_eq!(g.resolve("head"), Ok("27c6a30d7c24"));
        assert_eq!(g.resolve("main@head"), Ok("27c6a30d7c24"));
        assert_eq!(g.resolve("ae1027@head"), Ok("27c6a30d7c24"));
        assert_eq!(
            g.resolve("ae10"),
            Err(GraphError::AmbiguousRevision {
                target: "ae10".into(),
                candidates: vec!["ae1027a6acf".into(), "ae10ffff0000".into()],
            })
        );
        let err = g.resolve("ae10").unwrap_err().to_string();
        assert!(err.contains("ae1027a6acf, ae10ffff0000"), "{err}");
        assert!(matches!(
            g.resolve("ffff"),
            Err(GraphError::UnknownRevision { .. })
        ));
        assert!(matches!(
            g.resolve(""),
            Err(GraphError::UnknownRevision { .. })
        ));
    }

    #[test]
    fn resolve_head_with_several_heads_is_an_error() {
        let g = RevisionGraph::build(vec![rev("a", &[]), rev("b", &["a"]), rev("c", &["a"])]);
        assert_eq!(
            g.resolve("head"),
            Err(GraphError::MultipleHeads {
                target: "head".into(),
                heads: vec!["b".into(), "c".into()],
            })
        );
        let g = RevisionGraph::build(vec![rev("x", &["y"]), rev("y", &["x"])]);
        assert!(matches!(
            g.resolve("x@head"),
            Err(GraphError::NoHead { .. })
        ));
    }

    #[test]
    fn duplicates_are_kept_aside() {
        let mut copy = rev("b", &["a"]);
        copy.path = "versions/b_copy.py".into();
        let g = RevisionGraph::build(vec![rev("a", &[]), rev("b", &["a"]), copy]);
        assert_eq!(g.len(), 2);
        assert_eq!(g.duplicates().len(), 1);
        assert_eq!(g.duplicates()[0].path, "versions/b_copy.py");
        assert_eq!(g.get("b").unwrap().path, "versions/b.py");
    }

    #[test]
    fn ten_thousand_revisions_with_branches_and_merges() {
        // A main line; every 500 revisions a side branch of two revisions is opened
        // and merged back 3 revisions later.
        let n = 10_000;
        let mut revisions = Vec::with_capacity(n + n / 250);
        let mut prev = "r00000".to_owned();
        revisions.push(rev(&prev, &[]));
        let mut side: Option<String> = None;
        for i in 1..n {
            let id = format!("r{i:05}");
            if let Some(s) = side.take_if(|_| i % 500 == 3) {
                revisions.push(rev(&id, &[&prev, &s]));
            } else {
                revisions.push(rev(&id, &[&prev]));
            }
            if i % 500 == 0 {
                let s1 = format!("s{i:05}a");
                let s2 = format!("s{i:05}b");
                revisions.push(rev(&s1, &[&id]));
                revisions.push(rev(&s2, &[&s1]));
                side = Some(s2);
            }
            prev = id;
        }
        let total = revisions.len();
        let g = RevisionGraph::build(revisions);
        assert_eq!(g.len(), total);
        assert_eq!(g.heads(), ["r09999"]);
        assert_eq!(g.bases(), ["r00000"]);
        assert_eq!(g.merge_points().len(), 19);
        assert_eq!(g.branch_points().len(), 19);

        let order = g.order();
        assert_eq!(order.len(), total);
        let position: HashMap<&str, usize> =
            order.iter().enumerate().map(|(p, &id)| (id, p)).collect();
        for meta in g.revisions() {
            for parent in &meta.down_revisions {
                assert!(position[parent.as_str()] < position[meta.id.as_str()]);
            }
        }
        assert_eq!(order[0], "r00000");
        assert_eq!(order[total - 1], "r09999");
        assert!(g.check().is_empty(), "{:?}", g.check());
        assert_eq!(
            g.upgrade_path(Some("r09000"), "r09999").unwrap().len(),
            999 + 4
        );
        assert_eq!(g.resolve("s09500a"), Ok("s09500a"));
        assert!(matches!(
            g.resolve("r0999"),
            Err(GraphError::AmbiguousRevision { candidates, .. }) if candidates.len() == 10
        ));
    }
}
