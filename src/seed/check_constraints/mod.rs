//! Reading simple CHECK constraints, so that seeded values satisfy them the first time.
//!
//! `parse` reads the forms each engine prints back into a tree (a tolerant tokenizer and a
//! recursive-descent parser); this module turns the tree into rules per column. The forms:
//! PostgreSQL (`(price >= (0)::numeric)`, `((status)::text = ANY ((ARRAY['a'::character
//! varying])::text[]))`, `((n >= 1) AND (n <= 10))`), MySQL (`` (`s` in (_utf8mb4'a')) ``),
//! MariaDB (`` `s` in ('a','b') ``, `` json_valid(`doc`) ``) and SQLite (the DDL text as
//! written). Anything it does not understand is ignored; the seeder's retry deals with it.

mod parse;

use std::collections::BTreeMap;

use self::parse::{Cmp, Node, parse};
use crate::engine::Engine;
use crate::schema::Table;

/// A literal from a CHECK expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Num(f64),
    Str(String),
}

impl Lit {
    pub(crate) fn as_num(&self) -> Option<f64> {
        match self {
            Lit::Num(n) => Some(*n),
            Lit::Str(s) => s.trim().parse().ok(),
        }
    }
}

/// What the CHECK constraints of a table ask of one column.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Rules {
    /// Lower bound and whether it is strict (`>`).
    pub min: Option<(f64, bool)>,
    pub max: Option<(f64, bool)>,
    /// `IN (...)`, `= ANY (ARRAY[...])`, `= x`, `a = x OR a = y`.
    pub one_of: Option<Vec<Lit>>,
    pub not_in: Vec<Lit>,
    pub min_len: Option<usize>,
    pub max_len: Option<usize>,
    pub not_null: bool,
    /// `json_valid(col)`: MariaDB's JSON columns are LONGTEXT with this check.
    pub json: bool,
}

/// The rules of every column of a table, plus orderings between columns.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct TableRules {
    pub columns: BTreeMap<String, Rules>,
    /// `(lesser, greater)`: `CHECK (starts_at < ends_at)` (strict or not, both are kept
    /// apart by one step).
    pub order: Vec<(String, String)>,
}

pub(crate) fn table_rules(engine: Engine, table: &Table) -> TableRules {
    let mut rules = TableRules::default();
    for check in table.check_constraints.values() {
        let node = parse(engine, &check.expression);
        let resolve = |name: &str| column_name(table, name);
        collect(&node, &resolve, &mut rules);
    }
    rules
}

/// The column `name` refers to: exact, else case-insensitive.
fn column_name(table: &Table, name: &str) -> Option<String> {
    if table.columns.contains_key(name) {
        return Some(name.to_owned());
    }
    let mut matches = table
        .columns
        .keys()
        .filter(|c| c.eq_ignore_ascii_case(name));
    match (matches.next(), matches.next()) {
        (Some(c), None) => Some(c.clone()),
        _ => None,
    }
}

fn literal(node: &Node) -> Option<Lit> {
    match node {
        Node::Num(n) => Some(Lit::Num(*n)),
        Node::Str(s) => Some(Lit::Str(s.clone())),
        _ => None,
    }
}

/// The column whose length a call such as `length(trim(name))` measures.
fn length_of(node: &Node) -> Option<&str> {
    let Node::Call(name, args) = node else {
        return None;
    };
    let measures = matches!(
        name.as_str(),
        "length" | "char_length" | "character_length" | "octet_length" | "len"
    );
    if !measures || args.len() != 1 {
        return None;
    }
    let mut arg = &args[0];
    loop {
        match arg {
            Node::Col(c) => return Some(c),
            Node::Call(f, inner)
                if matches!(
                    f.as_str(),
                    "trim" | "btrim" | "ltrim" | "rtrim" | "lower" | "upper"
                ) && !inner.is_empty() =>
            {
                arg = inner.last()?;
            }
            _ => return None,
        }
    }
}

fn collect(node: &Node, resolve: &dyn Fn(&str) -> Option<String>, rules: &mut TableRules) {
    match node {
        Node::And(items) => {
            for item in items {
                collect(item, resolve, rules);
            }
        }
        Node::Cmp(left, cmp, right) => match (&**left, &**right) {
            (Node::Col(a), Node::Col(b)) => {
                let (Some(a), Some(b)) = (resolve(a), resolve(b)) else {
                    return;
                };
                match cmp {
                    Cmp::Lt | Cmp::Le => rules.order.push((a, b)),
                    Cmp::Gt | Cmp::Ge => rules.order.push((b, a)),
                    _ => {}
                }
            }
            (Node::Col(c), other) => {
                if let (Some(c), Some(lit)) = (resolve(c), literal(other)) {
                    apply(rules.columns.entry(c).or_default(), *cmp, lit);
                }
            }
            (other, Node::Col(c)) => {
                if let (Some(c), Some(lit)) = (resolve(c), literal(other)) {
                    apply(rules.columns.entry(c).or_default(), cmp.flip(), lit);
                }
            }
            (call, Node::Num(n)) | (Node::Num(n), call) => {
                let cmp = if matches!(&**left, Node::Num(_)) {
                    cmp.flip()
                } else {
                    *cmp
                };
                if let Some(c) = length_of(call).and_then(resolve) {
                    apply_length(rules.columns.entry(c).or_default(), cmp, *n);
                }
            }
            _ => {}
        },
        Node::In(left, items, negated) => {
            let Node::Col(c) = &**left else {
                return;
            };
            let Some(c) = resolve(c) else {
                return;
            };
            let lits: Vec<Lit> = items.iter().filter_map(literal).collect();
            let entry = rules.columns.entry(c).or_default();
            if *negated {
                entry.not_in.extend(lits);
            } else {
                restrict_one_of(entry, lits);
            }
        }
        Node::Between(value, low, high) => {
            let Node::Col(c) = &**value else {
                return;
            };
            let Some(c) = resolve(c) else {
                return;
            };
            let entry = rules.columns.entry(c).or_default();
            if let Some(low) = literal(low) {
                apply(entry, Cmp::Ge, low);
            }
            if let Some(high) = literal(high) {
                apply(entry, Cmp::Le, high);
            }
        }
        Node::IsNull(value, true) => {
            if let Node::Col(c) = &**value
                && let Some(c) = resolve(c)
            {
                rules.columns.entry(c).or_default().not_null = true;
            }
        }
        Node::Not(inner) => {
            if let Node::IsNull(value, false) = &**inner
                && let Node::Col(c) = &**value
                && let Some(c) = resolve(c)
            {
                rules.columns.entry(c).or_default().not_null = true;
            }
        }
        Node::Call(name, args) if name == "json_valid" && args.len() == 1 => {
            if let Node::Col(c) = &args[0]
                && let Some(c) = resolve(c)
            {
                rules.columns.entry(c).or_default().json = true;
            }
        }
        Node::Or(branches) => collect_or(branches, resolve, rules),
        _ => {}
    }
}

/// `a = 'x' OR a = 'y'` is a list of values; `a IS NULL OR <rules on a>` is the rules on a
/// (the seeder gives a value). Other disjunctions are left alone.
fn collect_or(branches: &[Node], resolve: &dyn Fn(&str) -> Option<String>, rules: &mut TableRules) {
    let column_of = |node: &Node| -> Option<String> {
        match node {
            Node::Cmp(left, _, right) => match (&**left, &**right) {
                (Node::Col(c), _) | (_, Node::Col(c)) => resolve(c),
                (a, b) => length_of(a).or_else(|| length_of(b)).and_then(resolve),
            },
            Node::In(left, _, _) | Node::Between(left, _, _) | Node::IsNull(left, _) => {
                match &**left {
                    Node::Col(c) => resolve(c),
                    _ => None,
                }
            }
            Node::And(items) => {
                let columns: Vec<Option<String>> = items
                    .iter()
                    .map(|i| match i {
                        Node::Cmp(l, _, _) => match &**l {
                            Node::Col(c) => resolve(c),
                            _ => None,
                        },
                        _ => None,
                    })
                    .collect();
                let first = columns.first().cloned().flatten()?;
                columns
                    .iter()
                    .all(|c| c.as_deref() == Some(first.as_str()))
                    .then_some(first)
            }
            _ => None,
        }
    };
    let Some(column) = branches.first().and_then(column_of) else {
        return;
    };
    if !branches
        .iter()
        .all(|b| column_of(b).as_deref() == Some(column.as_str()))
    {
        return;
    }
    let is_null = |b: &Node| matches!(b, Node::IsNull(_, false));
    let rest: Vec<&Node> = branches.iter().filter(|b| !is_null(b)).collect();
    let all_equalities = rest
        .iter()
        .all(|b| matches!(b, Node::Cmp(_, Cmp::Eq, _)) || matches!(b, Node::In(_, _, false)));
    if all_equalities {
        let mut lits = Vec::new();
        for branch in &rest {
            match branch {
                Node::Cmp(left, _, right) => lits.extend(literal(left).or_else(|| literal(right))),
                Node::In(_, items, _) => lits.extend(items.iter().filter_map(literal)),
                _ => {}
            }
        }
        if !lits.is_empty() {
            restrict_one_of(rules.columns.entry(column).or_default(), lits);
        }
    } else if rest.len() == 1 {
        collect(rest[0], resolve, rules);
    }
}

fn restrict_one_of(rules: &mut Rules, lits: Vec<Lit>) {
    rules.one_of = Some(match rules.one_of.take() {
        None => lits,
        Some(existing) => {
            let both: Vec<Lit> = existing.into_iter().filter(|l| lits.contains(l)).collect();
            if both.is_empty() { lits } else { both }
        }
    });
}

fn apply(rules: &mut Rules, cmp: Cmp, lit: Lit) {
    match cmp {
        Cmp::Eq => restrict_one_of(rules, vec![lit]),
        Cmp::Ne => rules.not_in.push(lit),
        _ => {
            let Some(n) = lit.as_num() else {
                return; // a date or string bound: base values are recent and non-empty
            };
            match cmp {
                Cmp::Gt | Cmp::Ge => {
                    let strict = cmp == Cmp::Gt;
                    if rules.min.is_none_or(|(m, _)| n >= m) {
                        rules.min = Some((n, strict));
                    }
                }
                _ => {
                    let strict = cmp == Cmp::Lt;
                    if rules.max.is_none_or(|(m, _)| n <= m) {
                        rules.max = Some((n, strict));
                    }
                }
            }
        }
    }
}

fn apply_length(rules: &mut Rules, cmp: Cmp, n: f64) {
    if n < 0.0 {
        return;
    }
    let n = n as usize;
    let (min, max) = match cmp {
        Cmp::Gt => (Some(n + 1), None),
        Cmp::Ge => (Some(n), None),
        Cmp::Lt => (None, Some(n.saturating_sub(1))),
        Cmp::Le => (None, Some(n)),
        Cmp::Eq => (Some(n), Some(n)),
        Cmp::Ne => (None, None),
    };
    if let Some(min) = min {
        rules.min_len = Some(rules.min_len.map_or(min, |m| m.max(min)));
    }
    if let Some(max) = max {
        rules.max_len = Some(rules.max_len.map_or(max, |m| m.min(max)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{CheckConstraint, Column};

    fn table(columns: &[&str], checks: &[&str]) -> Table {
        let mut table = Table::default();
        for (i, c) in columns.iter().enumerate() {
            table.columns.insert(
                (*c).to_owned(),
                Column {
                    data_type: "integer".into(),
                    nullable: true,
                    default: None,
                    extra: None,
                    ordinal: i as u32 + 1,
                },
            );
        }
        for check in checks {
            table.check_constraints.insert(
                (*check).to_owned(),
                CheckConstraint {
                    name: None,
                    expression: (*check).to_owned(),
                },
            );
        }
        table
    }

    fn rules(engine: Engine, columns: &[&str], check: &str) -> TableRules {
        table_rules(engine, &table(columns, &[check]))
    }

    fn strs(items: &[&str]) -> Option<Vec<Lit>> {
        Some(items.iter().map(|s| Lit::Str((*s).to_owned())).collect())
    }

    #[test]
    fn postgres_forms() {
        let r = rules(Engine::Postgres, &["price"], "(price >= (0)::numeric)");
        assert_eq!(r.columns["price"].min, Some((0.0, false)));
        let r = rules(
            Engine::Postgres,
            &["status"],
            "((status)::text = ANY ((ARRAY['new'::character varying, 'paid'::character varying])::text[]))",
        );
        assert_eq!(r.columns["status"].one_of, strs(&["new", "paid"]));
        let r = rules(
            Engine::Postgres,
            &["status"],
            "(status = ANY (ARRAY['a'::text, 'b'::text]))",
        );
        assert_eq!(r.columns["status"].one_of, strs(&["a", "b"]));
        let r = rules(Engine::Postgres, &["n"], "((n >= 1) AND (n <= 10))");
        assert_eq!(
            (r.columns["n"].min, r.columns["n"].max),
            (Some((1.0, false)), Some((10.0, false)))
        );
        let r = rules(Engine::Postgres, &["x"], "(x > '-1'::integer)");
        assert_eq!(r.columns["x"].min, Some((-1.0, true)));
        let r = rules(
            Engine::Postgres,
            &["name"],
            "(length(TRIM(BOTH FROM name)) > 0)",
        );
        assert_eq!(r.columns["name"].min_len, Some(1));
        let r = rules(
            Engine::Postgres,
            &["code"],
            "(char_length((code)::text) <= 4)",
        );
        assert_eq!(r.columns["code"].max_len, Some(4));
        let r = rules(Engine::Postgres, &["starts", "ends"], "(ends > starts)");
        assert_eq!(r.order, [("starts".to_owned(), "ends".to_owned())]);
        let r = rules(Engine::Postgres, &["qty"], "((qty IS NULL) OR (qty > 0))");
        assert_eq!(r.columns["qty"].min, Some((0.0, true)));
        let r = rules(
            Engine::Postgres,
            &["email"],
            "((email)::text ~ '^[^@]+@'::text)",
        );
        assert_eq!(r, TableRules::default());
        let r = rules(
            Engine::Postgres,
            &["a"],
            "((a)::text <> ALL ((ARRAY['x'::character varying])::text[]))",
        );
        assert_eq!(r.columns["a"].not_in, [Lit::Str("x".into())]);
    }

    #[test]
    fn mysql_and_mariadb_forms() {
        let r = rules(
            Engine::Mysql,
            &["status"],
            "(`status` in (_utf8mb4\\'a\\',_utf8mb4\\'b\\'))",
        );
        assert_eq!(r.columns["status"].one_of, strs(&["a", "b"]));
        let r = rules(Engine::Mysql, &["status"], "(`status` in ('a','b'))");
        assert_eq!(r.columns["status"].one_of, strs(&["a", "b"]));
        let r = rules(Engine::Mysql, &["qty"], "(`qty` between 1 and 5)");
        assert_eq!(
            (r.columns["qty"].min, r.columns["qty"].max),
            (Some((1.0, false)), Some((5.0, false)))
        );
        let r = rules(Engine::Mysql, &["doc"], "(json_valid(`doc`))");
        assert!(r.columns["doc"].json);
        let r = rules(Engine::Mysql, &["name"], "(char_length(`name`) > 0)");
        assert_eq!(r.columns["name"].min_len, Some(1));
    }

    #[test]
    fn sqlite_forms() {
        let r = rules(Engine::Sqlite, &["flag"], "(flag IN (0, 1))");
        assert_eq!(
            r.columns["flag"].one_of,
            Some(vec![Lit::Num(0.0), Lit::Num(1.0)])
        );
        let r = rules(
            Engine::Sqlite,
            &["Price"],
            "([price] > 0 AND \"Price\" < 100.5)",
        );
        assert_eq!(r.columns["Price"].min, Some((0.0, true)));
        assert_eq!(r.columns["Price"].max, Some((100.5, true)));
        let r = rules(Engine::Sqlite, &["kind"], "(kind = 'a' OR kind = 'b')");
        assert_eq!(r.columns["kind"].one_of, strs(&["a", "b"]));
        let r = rules(Engine::Sqlite, &["a", "b"], "(a + b > 0)");
        assert_eq!(r, TableRules::default());
        // Garbage never panics.
        for junk in [
            "(",
            ")",
            "((((",
            "a IN",
            "BETWEEN AND",
            "x::",
            "CAST(",
            "'unterminated",
        ] {
            let _ = rules(Engine::Sqlite, &["a"], junk);
            let _ = rules(Engine::Postgres, &["a"], junk);
            let _ = rules(Engine::Mysql, &["a"], junk);
        }
    }
}
