//! `git log --graph --oneline`-style drawing, newest revision first.
//!
//! Node lines read `* <id> (head) (merge) (branchpoint) (base) [labels] <notes> <doc>`, the notes
//! being `(missing parent X)`, `(cycle via parent X)` and `(depends on X, Y)`. A revision with
//! findings is drawn with `!` instead of `*` and its line ends with `  <- <severity>`. A blank
//! graph line separates a new head from a lane that just ended, so unrelated histories don't touch.
//!
//! Lane assignment follows git's graph.c in spirit: each lane waits for one revision (a parent of
//! something already drawn). A revision takes the lane waiting for it, or opens a new lane on the
//! right when nothing waits for it (a head). Its parents replace it in that lane (a merge fans out
//! with `\`); a parent some other lane already waits for is folded into the leftmost of the two
//! with `/` (a branch point), crossing lanes in between with git's `_` run. Lanes are unique, so
//! the width never exceeds the number of revisions being waited for at once (plus a merge's fan).

use std::collections::{HashMap, HashSet};

use super::{RenderNode, doc_summary, unique, without_controls};

pub(super) fn render(nodes: &[RenderNode]) -> String {
    let known: HashSet<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
    let mut printed: HashSet<&str> = HashSet::new();
    // lanes[i] is the revision lane i is waiting for; no id appears twice.
    let mut lanes: Vec<&str> = Vec::new();
    let mut out = String::new();
    // Column where the previous revision's lane stopped (it had no drawable parent).
    let mut ended_at: Option<usize> = None;

    for node in nodes.iter().rev() {
        let id = node.id.as_str();
        let col = match lanes.iter().position(|l| *l == id) {
            Some(col) => col,
            None => {
                // Without a gap, a new head right under a finished lane would read as its parent
                // (two unrelated histories, or a lane ended by a missing parent).
                if ended_at == Some(lanes.len()) {
                    let mut gap = Row::default();
                    for i in 0..lanes.len() {
                        gap.put(2 * i, b'|');
                    }
                    gap.finish_into(&mut out);
                }
                lanes.push(id);
                lanes.len() - 1
            }
        };
        printed.insert(id);

        let mut next = Vec::new();
        let mut missing = Vec::new();
        let mut cyclic = Vec::new();
        for p in unique(&node.parents) {
            if !known.contains(p) {
                missing.push(p);
            } else if printed.contains(p) {
                // Only a cycle (or input out of topological order) puts a parent above its child;
                // a lane for it would wait forever.
                cyclic.push(p);
            } else {
                next.push(p);
            }
        }
        let fan = next.len();
        let width = lanes.len();
        // An octopus (3+ drawable parents) draws `*-.` like git, so lanes on its right move
        // over first to make room.
        let shift = fan.saturating_sub(2);

        for step in 0..shift {
            if col + 1 == width {
                break;
            }
            let mut row = Row::default();
            for i in 0..=col {
                row.put(2 * i, b'|');
            }
            for i in col + 1..width {
                row.put(2 * (i + step) + 1, b'\\');
            }
            row.finish_into(&mut out);
        }

        let mut row = Row::default();
        for i in 0..col {
            row.put(2 * i, b'|');
        }
        row.put(2 * col, if node.flagged.is_some() { b'!' } else { b'*' });
        if shift > 0 {
            for p in 2 * col + 1..2 * col + 2 * shift {
                row.put(p, b'-');
            }
            row.put(2 * col + 2 * shift, b'.');
        }
        for i in col + 1..width {
            row.put(2 * (i + shift), b'|');
        }
        // Text starts right of everything the lines below will draw, as git aligns it.
        row.pad_to(2 * (width + shift).max(width - 1 + fan));
        let mut line = row.into_string();
        describe(node, &missing, &cyclic, &mut line);
        out.push_str(line.trim_end());
        out.push('\n');

        let joins = next.iter().any(|p| lanes.contains(p));
        lanes.splice(col..=col, next.iter().copied());

        if fan == 0 && col + 1 < width {
            let mut row = Row::default();
            for i in 0..col {
                row.put(2 * i, b'|');
            }
            for i in col + 1..width {
                row.put(2 * i - 1, b'/');
            }
            row.finish_into(&mut out);
        } else if fan >= 2 {
            let mut row = Row::default();
            for i in 0..=col {
                row.put(2 * i, b'|');
            }
            for j in 0..fan - 1 {
                row.put(2 * (col + j) + 1, b'\\');
            }
            for i in col + 1..width {
                row.put(2 * (i + shift) + 1, b'\\');
            }
            row.finish_into(&mut out);
        }

        if joins {
            while let Some((into, from)) = first_duplicate(&lanes) {
                collapse(&mut out, lanes.len(), into, from);
                lanes.remove(from);
            }
        }

        ended_at = (fan == 0).then_some(col);
    }
    out
}

/// The first lane (`from`) waiting for the same revision as an earlier lane (`into`).
fn first_duplicate(lanes: &[&str]) -> Option<(usize, usize)> {
    let mut first: HashMap<&str, usize> = HashMap::with_capacity(lanes.len());
    for (i, id) in lanes.iter().enumerate() {
        if let Some(&p) = first.get(id) {
            return Some((p, i));
        }
        first.insert(id, i);
    }
    None
}

/// Folds lane `from` into lane `into` (< `from`); lanes right of `from` move one column left.
fn collapse(out: &mut String, width: usize, into: usize, from: usize) {
    let mut row = Row::default();
    for i in 0..from {
        row.put(2 * i, b'|');
    }
    row.put(2 * from - 1, b'/');
    let mut at = from - 1;
    // git's `_` run: one line crosses any number of lanes instead of a staircase per lane.
    while at > into + 1 {
        row.put(2 * at - 1, b'_');
        at -= 1;
    }
    for i in from + 1..width {
        row.put(2 * i - 1, b'/');
    }
    row.finish_into(out);

    if at > into {
        let mut row = Row::default();
        for i in 0..width - 1 {
            row.put(2 * i, b'|');
        }
        row.put(2 * into + 1, b'/');
        row.finish_into(out);
    }
}

fn describe(node: &RenderNode, missing: &[&str], cyclic: &[&str], line: &mut String) {
    line.push_str(&without_controls(&node.id));
    for (on, tag) in [
        (node.is_head, " (head)"),
        (node.is_merge, " (merge)"),
        (node.is_branch_point, " (branchpoint)"),
        (node.is_base, " (base)"),
    ] {
        if on {
            line.push_str(tag);
        }
    }
    if !node.branch_labels.is_empty() {
        line.push_str(" [");
        line.push_str(&without_controls(&node.branch_labels.join(", ")));
        line.push(']');
    }
    for p in missing {
        line.push_str(&format!(" (missing parent {})", without_controls(p)));
    }
    for p in cyclic {
        line.push_str(&format!(" (cycle via parent {})", without_controls(p)));
    }
    let deps = unique(&node.depends_on);
    if !deps.is_empty() {
        line.push_str(&format!(
            " (depends on {})",
            without_controls(&deps.join(", "))
        ));
    }
    if let Some(doc) = doc_summary(node.doc.as_deref()) {
        line.push(' ');
        line.push_str(&without_controls(doc));
    }
    if let Some(severity) = &node.flagged {
        line.push_str("  <- ");
        line.push_str(&without_controls(severity));
    }
}

/// One line of graph characters: lane `i` sits at column `2 * i`, diagonals between lanes.
#[derive(Default)]
struct Row(Vec<u8>);

impl Row {
    fn put(&mut self, pos: usize, ch: u8) {
        if self.0.len() <= pos {
            self.0.resize(pos + 1, b' ');
        }
        let cell = &mut self.0[pos];
        *cell = match (*cell, ch) {
            (b' ', new) => new,
            // Two edges crossing between the same pair of lanes.
            (b'/', b'\\') | (b'\\', b'/') => b'X',
            (old, _) => old,
        };
    }

    fn pad_to(&mut self, width: usize) {
        if self.0.len() < width {
            self.0.resize(width, b' ');
        }
    }

    fn into_string(self) -> String {
        // Only ASCII bytes are ever put, so this cannot fail.
        String::from_utf8(self.0).unwrap_or_default()
    }

    fn finish_into(self, out: &mut String) {
        out.push_str(self.into_string().trim_end());
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Format, RenderNode, render};

    fn node(id: &str, parents: &[&str]) -> RenderNode {
        RenderNode {
            id: id.into(),
            parents: parents.iter().map(|p| p.to_string()).collect(),
            ..Default::default()
        }
    }

    /// Fills head/base/merge/branchpoint the way the graph module would.
    fn graph(spec: &[(&str, &[&str])]) -> Vec<RenderNode> {
        let mut nodes: Vec<RenderNode> = spec.iter().map(|(id, ps)| node(id, ps)).collect();
        for n in &mut nodes {
            let children = spec
                .iter()
                .filter(|(_, ps)| ps.contains(&n.id.as_str()))
                .count();
            n.is_head = children == 0;
            n.is_base = n.parents.is_empty();
            n.is_merge = n.parents.len() > 1;
            n.is_branch_point = children > 1;
        }
        nodes
    }

    fn text(nodes: &[RenderNode]) -> String {
        render(nodes, Format::Text)
    }

    #[test]
    fn linear() {
        let mut nodes = graph(&[("base", &[]), ("a", &["base"]), ("b", &["a"])]);
        nodes[0].doc = Some("create users\n\nRevision ID: base".into());
        nodes[2].doc = Some("\n  add email  \n".into());
        assert_eq!(
            text(&nodes),
            "\
* b (head) add email
* a
* base (base) create users
"
        );
    }

    #[test]
    fn branch_then_merge() {
        let nodes = graph(&[
            ("base", &[]),
            ("a1", &["base"]),
            ("b1", &["base"]),
            ("m", &["a1", "b1"]),
        ]);
        assert_eq!(
            text(&nodes),
            "\
*   m (head) (merge)
|\\
| * b1
* | a1
|/
* base (branchpoint) (base)
"
        );
    }

    #[test]
    fn two_unmerged_heads() {
        let nodes = graph(&[
            ("base", &[]),
            ("a1", &["base"]),
            ("b1", &["base"]),
            ("a2", &["a1"]),
            ("b2", &["b1"]),
        ]);
        assert_eq!(
            text(&nodes),
            "\
* b2 (head)
| * a2 (head)
* | b1
| * a1
|/
* base (branchpoint) (base)
"
        );
    }

    #[test]
    fn two_bases_merged() {
        let nodes = graph(&[
            ("base1", &[]),
            ("a1", &["base1"]),
            ("base2", &[]),
            ("b1", &["base2"]),
            ("m", &["a1", "b1"]),
        ]);
        assert_eq!(
            text(&nodes),
            "\
*   m (head) (merge)
|\\
| * b1
| * base2 (base)
* a1
* base1 (base)
"
        );
    }

    #[test]
    fn two_independent_histories_are_separated() {
        let nodes = graph(&[
            ("base1", &[]),
            ("a1", &["base1"]),
            ("base2", &[]),
            ("b1", &["base2"]),
        ]);
        assert_eq!(
            text(&nodes),
            "\
* b1 (head)
* base2 (base)

* a1 (head)
* base1 (base)
"
        );
    }

    #[test]
    fn octopus_merge_of_three() {
        let nodes = graph(&[
            ("base", &[]),
            ("a", &["base"]),
            ("b", &["base"]),
            ("c", &["base"]),
            ("m", &["a", "b", "c"]),
        ]);
        assert_eq!(
            text(&nodes),
            "\
*-.   m (head) (merge)
|\\ \\
| | * c
| * | b
| |/
* | a
|/
* base (branchpoint) (base)
"
        );
    }

    #[test]
    fn octopus_with_a_lane_on_its_right() {
        // x is drawn first and keeps a lane open to base while the octopus fans out to its left.
        let nodes = graph(&[
            ("base", &[]),
            ("a", &["base"]),
            ("b", &["base"]),
            ("c", &["base"]),
            ("m", &["a", "b", "c"]),
            ("x", &["base"]),
        ]);
        let out = text(&nodes);
        assert_eq!(
            out,
            "\
* x (head)
| *-.   m (head) (merge)
| |\\ \\
| | | * c
| |_|/
|/| |
| | * b
| |/
|/|
| * a
|/
* base (branchpoint) (base)
"
        );
    }

    #[test]
    fn merge_whose_parent_is_already_waited_for() {
        // m's second parent is base, which z's lane also leads to: the edges join at once.
        let nodes = graph(&[
            ("base", &[]),
            ("p", &["base"]),
            ("q", &["base"]),
            ("z", &["base"]),
            ("m", &["z", "base"]),
        ]);
        assert_eq!(
            text(&nodes),
            "\
*   m (head) (merge)
|\\
* | z
|/
| * q (head)
|/
| * p (head)
|/
* base (branchpoint) (base)
"
        );
    }

    #[test]
    fn flags_notes_labels_and_dependencies() {
        let mut nodes = graph(&[("base", &[]), ("a", &["base", "gone"])]);
        nodes[1].flagged = Some("error".into());
        nodes[1].branch_labels = vec!["feature".into(), "x".into()];
        nodes[1].depends_on = vec!["base".into()];
        nodes[1].doc = Some("do\tthings\x1b[31m".into());
        nodes[0].flagged = Some("warning".into());
        assert_eq!(
            text(&nodes),
            "\
! a (head) (merge) [feature, x] (missing parent gone) (depends on base) do things [31m  <- error
! base (base)  <- warning
"
        );
    }

    #[test]
    fn missing_parent_ends_the_lane() {
        let nodes = vec![node("a", &["gone"]), node("b", &["a"]), node("c", &[])];
        assert_eq!(
            text(&nodes),
            "\
* c

* b
* a (missing parent gone)
"
        );
    }

    #[test]
    fn cycle_members_are_all_printed() {
        // x <-> y form a cycle; the graph module puts what it cannot sort last.
        let nodes = vec![
            node("base", &[]),
            node("x", &["y", "base"]),
            node("y", &["x"]),
            node("self", &["self"]),
        ];
        assert_eq!(
            text(&nodes),
            "\
* self (cycle via parent self)

* y
* x (cycle via parent y)
* base
"
        );
    }

    #[test]
    fn duplicate_ids_are_both_printed() {
        let nodes = vec![node("a", &[]), node("a", &[]), node("b", &["a", "a"])];
        let out = text(&nodes);
        assert_eq!(out.matches("* a").count(), 2, "{out}");
    }

    #[test]
    fn width_is_bounded_by_open_lanes() {
        // 200 heads off one base: only two lanes are ever open at once.
        let mut spec: Vec<RenderNode> = vec![node("base", &[])];
        for i in 0..200 {
            spec.push(node(&format!("h{i}"), &["base"]));
        }
        let out = text(&spec);
        let widest = out
            .lines()
            .map(|l| l.split(|c: char| c.is_alphanumeric()).next().unwrap().len())
            .max()
            .unwrap();
        assert!(widest <= 4, "{widest}\n{out}");
    }

    #[test]
    fn ten_thousand_linear_revisions() {
        let mut nodes = vec![node("r0", &[])];
        for i in 1..10_000 {
            nodes.push(node(&format!("r{i}"), &[&format!("r{}", i - 1)]));
        }
        let out = text(&nodes);
        assert_eq!(out.lines().count(), 10_000);
        assert!(out.starts_with("* r9999\n"));
        assert!(out.ends_with("* r0\n"));
    }

    /// Follows every edge drawn below each node line back to the node it reaches, the way a
    /// reader's eye would, so layouts are checked for meaning rather than for exact characters.
    fn traced_edges(out: &str, drawn: &[&RenderNode]) -> Vec<(String, Vec<String>)> {
        let rows: Vec<Vec<u8>> = out
            .lines()
            .map(|l| {
                l.bytes()
                    .take_while(|b| b" |/\\_*!-.X".contains(b))
                    .collect()
            })
            .collect();
        let at = |r: usize, x: isize| -> u8 {
            if x < 0 {
                return b' ';
            }
            rows.get(r)
                .and_then(|row| row.get(x as usize))
                .copied()
                .unwrap_or(b' ')
        };
        let is_glyph = |c: u8| c == b'*' || c == b'!';
        // Node lines in output order carry the nodes in reverse input order.
        let mut owner = std::collections::HashMap::new();
        let mut node_lines = Vec::new();
        for (r, row) in rows.iter().enumerate() {
            if let Some(x) = row.iter().position(|&b| is_glyph(b)) {
                owner.insert((r, x as isize), drawn[node_lines.len()].id.clone());
                node_lines.push((r, x as isize));
            }
        }
        assert_eq!(node_lines.len(), drawn.len(), "{out}");
        let mut result = Vec::new();
        for (k, &(r, x)) in node_lines.iter().enumerate() {
            // (row, column) of the first edge character and the direction it travels.
            let mut starts = Vec::new();
            if at(r + 1, x) == b'|' || is_glyph(at(r + 1, x)) {
                starts.push((r + 1, x, b'|'));
            }
            if at(r + 1, x - 1) == b'/' {
                starts.push((r + 1, x - 1, b'/'));
            }
            if at(r + 1, x + 1) == b'\\' {
                starts.push((r + 1, x + 1, b'\\'));
            }
            let mut dot = x + 1;
            while at(r, dot) == b'-' {
                dot += 1;
            }
            if dot > x + 1 {
                assert_eq!(at(r, dot), b'.', "{out}");
                let mut p = x + 3;
                while p <= dot + 1 {
                    assert_eq!(at(r + 1, p), b'\\', "octopus fan at {p}\n{out}");
                    starts.push((r + 1, p, b'\\'));
                    p += 2;
                }
            }
            let mut reached = Vec::new();
            for (mut r, mut x, mut c) in starts {
                let mut steps = 0;
                loop {
                    steps += 1;
                    assert!(steps < 100_000, "loop while tracing\n{out}");
                    if is_glyph(at(r, x)) {
                        reached.push(owner[&(r, x)].clone());
                        break;
                    }
                    let (nr, nx) = match c {
                        b'|' => (r + 1, x),
                        b'/' if at(r, x - 2) == b'_' => (r, x - 2),
                        b'/' => (r + 1, x - 1),
                        b'\\' => (r + 1, x + 1),
                        b'_' if at(r, x - 2) == b'_' => (r, x - 2),
                        b'_' => (r + 1, x - 2),
                        other => panic!("edge of {} hits {:?}\n{out}", drawn[k].id, other as char),
                    };
                    let landed_on_lane = c != b'_' && nr == r + 1;
                    let next = at(nr, nx);
                    // Keep going the same way where a crossing lane makes it ambiguous.
                    let (nr, nx, nc) = if !landed_on_lane {
                        (nr, nx, next)
                    } else if c == b'/' && at(nr, nx - 1) == b'/' {
                        (nr, nx - 1, b'/')
                    } else if c == b'\\' && at(nr, nx + 1) == b'\\' {
                        (nr, nx + 1, b'\\')
                    } else if next == b'|' || is_glyph(next) {
                        (nr, nx, next)
                    } else if at(nr, nx - 1) == b'/' {
                        (nr, nx - 1, b'/')
                    } else if at(nr, nx + 1) == b'\\' {
                        (nr, nx + 1, b'\\')
                    } else {
                        panic!("edge of {} ends at row {nr} col {nx}\n{out}", drawn[k].id)
                    };
                    if c == b'_' && nr == r + 1 {
                        assert_eq!(nc, b'/', "`_` must drop into `/`\n{out}");
                    }
                    (r, x, c) = (nr, nx, nc);
                }
            }
            reached.sort();
            reached.dedup();
            result.push((drawn[k].id.clone(), reached));
        }
        result
    }

    fn xorshift(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    #[test]
    fn random_histories_draw_exactly_their_edges() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for case in 0..400 {
            let size = 2 + (xorshift(&mut seed) % 40) as usize;
            let mut nodes: Vec<RenderNode> = Vec::new();
            for i in 0..size {
                let parents = match xorshift(&mut seed) % 20 {
                    _ if i == 0 => 0,
                    0 | 1 => 0,
                    2..=13 => 1,
                    14..=17 => 2,
                    18 => 3,
                    _ => 4,
                };
                let mut ps = Vec::new();
                for _ in 0..parents {
                    // Mostly recent parents, like real histories, sometimes far back.
                    let back = if xorshift(&mut seed).is_multiple_of(3) {
                        xorshift(&mut seed) as usize % i
                    } else {
                        (xorshift(&mut seed) as usize % i.min(4)).min(i - 1)
                    };
                    ps.push(format!("n{}", i - 1 - back));
                }
                if xorshift(&mut seed).is_multiple_of(25) {
                    ps.push("gone".into());
                }
                nodes.push(RenderNode {
                    id: format!("n{i}"),
                    parents: ps,
                    flagged: xorshift(&mut seed)
                        .is_multiple_of(7)
                        .then(|| "error".into()),
                    ..Default::default()
                });
            }
            let out = text(&nodes);
            let drawn: Vec<&RenderNode> = nodes.iter().rev().collect();
            for (id, reached) in traced_edges(&out, &drawn) {
                let node = nodes.iter().find(|n| n.id == id).unwrap();
                let mut expected: Vec<String> = node
                    .parents
                    .iter()
                    .filter(|p| *p != "gone")
                    .cloned()
                    .collect();
                expected.sort();
                expected.dedup();
                assert_eq!(reached, expected, "case {case}, node {id}\n{out}");
            }
        }
    }

    #[test]
    fn merge_into_a_lane_far_left_uses_an_underscore_run() {
        let nodes = graph(&[
            ("base", &[]),
            ("a", &["base"]),
            ("b", &["base"]),
            ("c", &["a", "b"]),
            ("d", &["base"]),
            ("e", &["c", "d", "a"]),
        ]);
        let out = text(&nodes);
        assert!(out.is_ascii());
        assert_eq!(
            out,
            "\
*-.   e (head) (merge)
|\\ \\
| * | d
* | |   c (merge)
|\\ \\ \\
| |_|/
|/| |
| * | b
| |/
* | a (branchpoint)
|/
* base (branchpoint) (base)
"
        );
    }
}
