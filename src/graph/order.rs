//! Ordering over revision indices: topological order and the loops that prevent one.
//!
//! Everything works on `preds[i]` (what must run before revision `i`) and its inverse
//! `succs`, both deduplicated, so each function stays linear in revisions plus edges.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};

/// Kahn's algorithm. The ready set is a min-heap on input index so the result does not
/// depend on hashing or edge order. Revisions never freed (in a loop, or after one) are
/// appended in input order: callers would rather see them last than lose them.
pub(super) fn topological(preds: &[Vec<usize>], succs: &[Vec<usize>]) -> Vec<usize> {
    let n = preds.len();
    let mut waiting: Vec<usize> = preds.iter().map(Vec::len).collect();
    let mut ready: BinaryHeap<Reverse<usize>> =
        (0..n).filter(|&i| waiting[i] == 0).map(Reverse).collect();
    let mut placed = vec![false; n];
    let mut out = Vec::with_capacity(n);
    while let Some(Reverse(i)) = ready.pop() {
        placed[i] = true;
        out.push(i);
        for &s in &succs[i] {
            waiting[s] -= 1;
            if waiting[s] == 0 {
                ready.push(Reverse(s));
            }
        }
    }
    if out.len() < n {
        out.extend((0..n).filter(|&i| !placed[i]));
    }
    out
}

/// Strongly connected components that contain a loop (two or more members, or one member
/// with an edge to itself), each sorted by input index, listed by their first member.
///
/// Tarjan's algorithm with an explicit stack: a 10,000-revision linear history would be
/// 10,000 frames deep recursively.
pub(super) fn looping_components(succ: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const UNSEEN: usize = usize::MAX;
    let n = succ.len();
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut calls: Vec<(usize, usize)> = Vec::new();
    let mut next = 0;
    let mut found = Vec::new();

    for root in 0..n {
        if index[root] != UNSEEN {
            continue;
        }
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        calls.push((root, 0));

        while let Some(&(v, edge)) = calls.last() {
            if let Some(&w) = succ[v].get(edge) {
                let top = calls.len() - 1;
                calls[top].1 += 1;
                if index[w] == UNSEEN {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    calls.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(u, _)) = calls.last() {
                low[u] = low[u].min(low[v]);
            }
            if low[v] == index[v] {
                let mut comp = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    comp.push(w);
                    if w == v {
                        break;
                    }
                }
                if comp.len() > 1 || succ[v].contains(&v) {
                    comp.sort_unstable();
                    found.push(comp);
                }
            }
        }
    }
    found.sort_unstable_by_key(|c| c[0]);
    found
}

/// A shortest loop from `start` back to itself inside `comp` (a looping component holding
/// `start`), as `[start, .., start]`. A component can be tangled beyond one simple loop;
/// one concrete loop is what a person can read and break.
pub(super) fn loop_through(succ: &[Vec<usize>], comp: &[usize], start: usize) -> Vec<usize> {
    if succ[start].contains(&start) {
        return vec![start, start];
    }
    let members: HashSet<usize> = comp.iter().copied().collect();
    let mut came_from: HashMap<usize, usize> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for &w in &succ[v] {
            if w == start {
                let mut path = vec![start, v];
                let mut at = v;
                while at != start {
                    at = came_from[&at];
                    path.push(at);
                }
                path.reverse();
                return path;
            }
            if members.contains(&w) && !came_from.contains_key(&w) {
                came_from.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    // Unreachable for a real looping component; keep the member list rather than panic.
    let mut path = comp.to_vec();
    path.push(start);
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inverse(preds: &[Vec<usize>]) -> Vec<Vec<usize>> {
        let mut succs = vec![Vec::new(); preds.len()];
        for (i, ps) in preds.iter().enumerate() {
            for &p in ps {
                succs[p].push(i);
            }
        }
        succs
    }

    #[test]
    fn topological_breaks_ties_by_input_order() {
        // 0 <- 2, 1 <- 3: both 0 and 1 are ready at once; 0 first, then 1, then 2, 3.
        let preds = vec![vec![], vec![], vec![0], vec![1]];
        assert_eq!(topological(&preds, &inverse(&preds)), vec![0, 1, 2, 3]);
        let preds = vec![vec![3], vec![], vec![1], vec![]];
        assert_eq!(topological(&preds, &inverse(&preds)), vec![1, 2, 3, 0]);
    }

    #[test]
    fn topological_appends_looping_revisions() {
        // 1 <-> 2 loop, 3 after the loop, 0 fine.
        let preds = vec![vec![], vec![2], vec![1], vec![2]];
        assert_eq!(topological(&preds, &inverse(&preds)), vec![0, 1, 2, 3]);
    }

    #[test]
    fn components_find_self_loops_and_longer_loops() {
        // 0 self-loop; 1 -> 2 -> 3 -> 1; 4 -> 1 hangs off the loop.
        let succ = vec![vec![0], vec![2], vec![3], vec![1], vec![1]];
        assert_eq!(looping_components(&succ), vec![vec![0], vec![1, 2, 3]]);
        assert_eq!(loop_through(&succ, &[0], 0), vec![0, 0]);
        assert_eq!(loop_through(&succ, &[1, 2, 3], 1), vec![1, 2, 3, 1]);
    }

    #[test]
    fn loop_through_takes_the_shortest_loop() {
        // 0 -> 1 -> 2 -> 0 and 0 -> 2 -> 0.
        let succ = vec![vec![1, 2], vec![2], vec![0]];
        assert_eq!(looping_components(&succ), vec![vec![0, 1, 2]]);
        assert_eq!(loop_through(&succ, &[0, 1, 2], 0), vec![0, 2, 0]);
    }

    #[test]
    fn deep_chain_does_not_overflow() {
        let n = 200_000;
        let succ: Vec<Vec<usize>> = (0..n)
            .map(|i| if i + 1 < n { vec![i + 1] } else { vec![0] })
            .collect();
        let comps = looping_components(&succ);
        assert_eq!(comps.len(), 1);
        assert_eq!(comps[0].len(), n);
    }
}
