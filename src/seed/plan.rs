//! Deciding every row from a snapshot alone.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::check_constraints::{Rules, table_rules};
use super::hints::{self, ColumnHint, ModelHints};
use super::types::{Kind, parse};
use super::values::{Gen, quote_array_element};
use super::{Link, Row, RowRef, SeedPlan, TablePlan, UserRows, Value};
use crate::engine::Engine;
use crate::schema::{Column, SchemaSnapshot, Table};

/// How many times a row is regenerated to get around a unique-key collision.
const MAX_ATTEMPTS: usize = 256;
/// A SQLite rowid given explicitly in a retry row is this plus the row's index; see
/// [`Planner::compose`].
const SQLITE_RETRY_ROWID: i64 = 1_000_000;

/// Builds the plan from a snapshot: the user's rows for a table first (their missing NOT
/// NULL columns without a default filled in), then `rows_per_table` synthetic rows, for
/// every table of the snapshot, parents before children. User rows for tables the snapshot
/// does not have are planned last, as given, so that the database's refusal is reported.
pub fn plan(snapshot: &SchemaSnapshot, rows_per_table: usize, user_rows: &UserRows) -> SeedPlan {
    plan_with(snapshot, rows_per_table, user_rows, &ModelHints::new())
}

/// [`plan`], text columns following what the models say of them (see `hints.rs`).
pub fn plan_with(
    snapshot: &SchemaSnapshot,
    rows_per_table: usize,
    user_rows: &UserRows,
    hints: &ModelHints,
) -> SeedPlan {
    let order = order_tables(snapshot);
    let counts: BTreeMap<&str, usize> = snapshot
        .tables
        .keys()
        .map(|t| {
            let given = user_rows.get(t).map_or(0, Vec::len);
            (t.as_str(), given + rows_per_table)
        })
        .collect();
    let referenced = referenced_columns(snapshot);
    let mut tables = Vec::new();
    let mut links = Vec::new();
    for name in &order.tables {
        let table = &snapshot.tables[name.as_str()];
        let mut planner = Planner::new(snapshot, name, table, &order, &referenced, &counts);
        if let Some(hints) = hints.get(name.as_str()) {
            planner.follow(hints);
        }
        let given = user_rows.get(name.as_str()).map_or(&[][..], Vec::as_slice);
        tables.push(planner.plan(given, rows_per_table, &mut links));
    }
    for (name, rows) in user_rows {
        if snapshot.tables.contains_key(name) {
            continue;
        }
        tables.push(TablePlan {
            table: name.clone(),
            rows: rows
                .iter()
                .map(|row| {
                    row.iter()
                        .map(|(c, v)| (c.clone(), from_json(&Kind::Unknown, v)))
                        .collect()
                })
                .collect(),
            retry_rows: vec![None; rows.len()],
            user_rows: rows.len(),
            returning: Vec::new(),
        });
    }

    // Keys the database makes up and later rows (or links) need.
    let linked: BTreeSet<&str> = links.iter().map(|l| l.table.as_str()).collect();
    for table_plan in &mut tables {
        let name = table_plan.table.as_str();
        let mut needed: BTreeSet<&str> = referenced
            .get(name)
            .map(|cols| cols.iter().copied().collect())
            .unwrap_or_default();
        if linked.contains(name)
            && let Some(pk) = snapshot
                .tables
                .get(name)
                .and_then(|t| t.primary_key.as_ref())
        {
            needed.extend(pk.columns.iter().map(String::as_str));
        }
        let returning = needed
            .into_iter()
            .filter(|c| {
                table_plan
                    .rows
                    .iter()
                    .chain(table_plan.retry_rows.iter().flatten())
                    .any(|r| !r.contains_key(*c))
            })
            .map(str::to_owned)
            .collect();
        table_plan.returning = returning;
    }
    SeedPlan {
        tables,
        links,
        existing: BTreeSet::new(),
    }
}

/// Table -> its columns some foreign key (of a table in the snapshot) points at.
fn referenced_columns(snapshot: &SchemaSnapshot) -> BTreeMap<&str, BTreeSet<&str>> {
    let mut referenced: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for table in snapshot.tables.values() {
        for fk in table.foreign_keys.values() {
            if snapshot.tables.contains_key(&fk.referred_table) {
                referenced
                    .entry(fk.referred_table.as_str())
                    .or_default()
                    .extend(fk.referred_columns.iter().map(String::as_str));
            }
        }
    }
    referenced
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Broken {
    /// NULL at first, set by a [`Link`] afterwards.
    Nullable,
    /// A cycle through NOT NULL columns: the child goes first and its rows cannot be
    /// inserted; they are skipped with a reason.
    Forced,
}

struct Order {
    tables: Vec<String>,
    /// (child table, foreign key map key) -> how its edge was broken.
    broken: BTreeMap<(String, String), Broken>,
}

/// Tables in dependency order (alphabetical among equals). Cycles are broken at a foreign
/// key whose columns are all nullable when there is one.
fn order_tables(snapshot: &SchemaSnapshot) -> Order {
    // child -> [(fk key, parent, all columns nullable)], parents other than the child itself
    let mut edges: BTreeMap<&str, Vec<(&str, &str, bool)>> = BTreeMap::new();
    for (name, table) in &snapshot.tables {
        let list = edges.entry(name.as_str()).or_default();
        for (key, fk) in &table.foreign_keys {
            if fk.referred_table != *name && snapshot.tables.contains_key(&fk.referred_table) {
                let nullable = fk
                    .columns
                    .iter()
                    .all(|c| table.columns.get(c).is_none_or(|col| col.nullable));
                list.push((key.as_str(), fk.referred_table.as_str(), nullable));
            }
        }
    }
    let mut remaining: BTreeSet<&str> = edges.keys().copied().collect();
    let mut broken: BTreeMap<(String, String), Broken> = BTreeMap::new();
    let mut tables = Vec::new();
    let is_broken = |broken: &BTreeMap<(String, String), Broken>, child: &str, key: &str| {
        broken.contains_key(&(child.to_owned(), key.to_owned()))
    };
    while !remaining.is_empty() {
        let ready = remaining.iter().copied().find(|t| {
            edges[t]
                .iter()
                .all(|(key, parent, _)| !remaining.contains(parent) || is_broken(&broken, t, key))
        });
        if let Some(table) = ready {
            remaining.remove(table);
            tables.push(table.to_owned());
            continue;
        }
        // A cycle: an edge child -> parent where the parent (transitively) needs the child.
        let reaches = |from: &str, to: &str, broken: &BTreeMap<(String, String), Broken>| {
            let mut stack = vec![from];
            let mut seen = BTreeSet::new();
            while let Some(t) = stack.pop() {
                if t == to {
                    return true;
                }
                if !seen.insert(t) {
                    continue;
                }
                for (key, parent, _) in &edges[t] {
                    if remaining.contains(parent) && !is_broken(broken, t, key) {
                        stack.push(parent);
                    }
                }
            }
            false
        };
        let in_cycle = |child: &str, key: &str, parent: &str| {
            remaining.contains(parent)
                && !is_broken(&broken, child, key)
                && reaches(parent, child, &broken)
        };
        let nullable = remaining.iter().find_map(|t| {
            edges[t]
                .iter()
                .find(|(key, parent, nullable)| *nullable && in_cycle(t, key, parent))
                .map(|(key, _, _)| (*t, *key))
        });
        if let Some((child, key)) = nullable {
            broken.insert((child.to_owned(), key.to_owned()), Broken::Nullable);
            continue;
        }
        let forced = remaining.iter().find_map(|t| {
            let keys: Vec<&str> = edges[t]
                .iter()
                .filter(|(key, parent, _)| in_cycle(t, key, parent))
                .map(|(key, _, _)| *key)
                .collect();
            (!keys.is_empty()).then_some((*t, keys))
        });
        match forced {
            Some((child, keys)) => {
                for key in keys {
                    broken.insert((child.to_owned(), key.to_owned()), Broken::Forced);
                }
            }
            None => {
                // Cannot happen (no ready table means a cycle); place one table regardless.
                if let Some(table) = remaining.pop_first() {
                    tables.push(table.to_owned());
                }
            }
        }
    }
    Order { tables, broken }
}

/// Where a value of a row came from, to know what may change on a unique collision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Absent,
    User,
    Fixed,
    Generated,
    Foreign(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Normal,
    SelfRef,
    /// Cycle broken here: NULL, then a link.
    Deferred,
    /// Cycle through NOT NULL columns: refers to a table planned later.
    Forced,
    /// The parent is not in the snapshot (another schema).
    External,
}

struct ColPlan<'a> {
    name: &'a str,
    column: &'a Column,
    kind: Kind,
    rules: Rules,
    /// Added to `k`, so that `CHECK (a < b)` holds.
    level: u64,
    generated: bool,
    rowid_alias: bool,
    has_default: bool,
    /// In a unique key or referred to: always given a value, never left to a default.
    always: bool,
    fk: Option<usize>,
}

impl ColPlan<'_> {
    fn required(&self) -> bool {
        !self.column.nullable || self.rules.not_null
    }
}

struct FkPlan<'a> {
    /// (column index, parent column) for the columns this foreign key sets.
    claimed: Vec<(usize, &'a str)>,
    parent: &'a str,
    mode: Mode,
    parent_rows: usize,
    all_columns: Vec<&'a str>,
    parent_columns: Vec<&'a str>,
}

struct Planner<'a> {
    table: &'a str,
    cols: Vec<ColPlan<'a>>,
    fks: Vec<FkPlan<'a>>,
    unique_sets: Vec<Vec<usize>>,
    seen: Vec<HashSet<String>>,
    next_k: u64,
}

impl<'a> Planner<'a> {
    /// Text columns take what the models say of them.
    fn follow(&mut self, hints: &BTreeMap<String, ColumnHint>) {
        for column in &mut self.cols {
            if let Some(hint) = hints.get(column.name) {
                hints::apply(hint, &mut column.kind, &mut column.rules);
            }
        }
    }

    fn new(
        snapshot: &'a SchemaSnapshot,
        name: &'a str,
        table: &'a Table,
        order: &Order,
        referenced: &BTreeMap<&str, BTreeSet<&str>>,
        counts: &BTreeMap<&str, usize>,
    ) -> Planner<'a> {
        let engine = snapshot.engine;
        let rules = table_rules(engine, table);
        let mut columns: Vec<(&String, &Column)> = table.columns.iter().collect();
        columns.sort_by_key(|(n, c)| (c.ordinal, n.as_str()));
        let pk: &[String] = table
            .primary_key
            .as_ref()
            .map_or(&[], |pk| pk.columns.as_slice());

        // `CHECK (a < b)`: b is one level above a.
        let mut levels: BTreeMap<&str, u64> = BTreeMap::new();
        for _ in 0..columns.len().min(16) {
            for (lesser, greater) in &rules.order {
                let above = levels.get(lesser.as_str()).copied().unwrap_or(0) + 1;
                let level = levels.entry(greater.as_str()).or_insert(0);
                *level = (*level).max(above);
            }
        }

        let mut cols: Vec<ColPlan<'a>> = columns
            .iter()
            .map(|(name, column)| {
                let rowid_alias = engine == Engine::Sqlite
                    && pk.len() == 1
                    && pk[0] == **name
                    && column.data_type.trim().eq_ignore_ascii_case("integer");
                let generated = rowid_alias || is_generated(column);
                let has_default = !generated
                    && column
                        .default
                        .as_deref()
                        .is_some_and(|d| !d.trim().eq_ignore_ascii_case("null"));
                ColPlan {
                    name: name.as_str(),
                    column,
                    kind: parse(engine, &column.data_type, &snapshot.enums),
                    rules: rules
                        .columns
                        .get(name.as_str())
                        .cloned()
                        .unwrap_or_default(),
                    level: levels.get(name.as_str()).copied().unwrap_or(0),
                    generated,
                    rowid_alias,
                    has_default,
                    always: false,
                    fk: None,
                }
            })
            .collect();
        let index: BTreeMap<&str, usize> =
            cols.iter().enumerate().map(|(i, c)| (c.name, i)).collect();

        // Unique keys, over columns the database does not generate.
        let mut unique_sets: Vec<Vec<usize>> = Vec::new();
        let mut add_set = |columns: Vec<usize>| {
            let mut columns = columns;
            columns.sort_unstable();
            columns.dedup();
            if !columns.is_empty()
                && !columns.iter().any(|&c| cols[c].generated)
                && !unique_sets.contains(&columns)
            {
                unique_sets.push(columns);
            }
        };
        let lookup = |names: &[String]| -> Option<Vec<usize>> {
            names
                .iter()
                .map(|n| index.get(n.as_str()).copied())
                .collect()
        };
        if let Some(set) = lookup(pk) {
            add_set(set);
        }
        for unique in table.unique_constraints.values() {
            if let Some(set) = lookup(&unique.columns) {
                add_set(set);
            }
        }
        for ix in table.indexes.values().filter(|ix| ix.unique) {
            let mut set = Vec::new();
            for part in &ix.columns {
                set.extend(index_part_columns(part, &index));
            }
            add_set(set);
        }
        for set in &unique_sets {
            for &c in set {
                cols[c].always = true;
            }
        }
        if let Some(names) = referenced.get(name) {
            for n in names {
                if let Some(&c) = index.get(n) {
                    cols[c].always = true;
                }
            }
        }

        // Foreign keys, composite ones first so that they claim shared columns.
        let mut fk_list: Vec<(&String, &crate::schema::ForeignKey)> =
            table.foreign_keys.iter().collect();
        fk_list.sort_by_key(|(_, fk)| std::cmp::Reverse(fk.columns.len()));
        let mut fks = Vec::new();
        for (key, fk) in fk_list {
            let parent = fk.referred_table.as_str();
            let known_parent = snapshot.tables.contains_key(parent)
                && fk.columns.len() == fk.referred_columns.len();
            let mode = if !known_parent {
                Mode::External
            } else if parent == name {
                Mode::SelfRef
            } else {
                match order.broken.get(&(name.to_owned(), key.clone())) {
                    Some(Broken::Nullable) => Mode::Deferred,
                    Some(Broken::Forced) => Mode::Forced,
                    None => Mode::Normal,
                }
            };
            let fi = fks.len();
            let mut claimed = Vec::new();
            for (i, column) in fk.columns.iter().enumerate() {
                if let Some(&c) = index.get(column.as_str())
                    && cols[c].fk.is_none()
                    && !cols[c].generated
                {
                    cols[c].fk = Some(fi);
                    let parent_column = fk.referred_columns.get(i).map_or("", String::as_str);
                    claimed.push((c, parent_column));
                }
            }
            fks.push(FkPlan {
                claimed,
                parent,
                mode,
                parent_rows: counts.get(parent).copied().unwrap_or(0),
                all_columns: fk.columns.iter().map(String::as_str).collect(),
                parent_columns: fk.referred_columns.iter().map(String::as_str).collect(),
            });
        }

        let seen = vec![HashSet::new(); unique_sets.len()];
        Planner {
            table: name,
            cols,
            fks,
            unique_sets,
            seen,
            next_k: 1,
        }
    }

    fn plan(
        &mut self,
        given: &[serde_json::Map<String, serde_json::Value>],
        synthetic: usize,
        links: &mut Vec<Link>,
    ) -> TablePlan {
        let mut rows = Vec::with_capacity(given.len() + synthetic);
        let mut retry_rows = Vec::with_capacity(given.len() + synthetic);
        for (j, user) in given.iter().enumerate() {
            rows.push(self.build(j, Some(user), false, links));
            retry_rows.push(None);
        }
        for i in 0..synthetic {
            rows.push(self.build(given.len() + i, None, false, links));
        }
        for i in 0..synthetic {
            retry_rows.push(Some(self.build(given.len() + i, None, true, links)));
        }
        TablePlan {
            table: self.table.to_owned(),
            rows,
            retry_rows,
            user_rows: given.len(),
            returning: Vec::new(),
        }
    }

    /// Row `j` (an index into the table's rows, user rows included), unique against every
    /// row built before.
    fn build(
        &mut self,
        j: usize,
        user: Option<&serde_json::Map<String, serde_json::Value>>,
        alt: bool,
        links: &mut Vec<Link>,
    ) -> Row {
        let k0 = self.next_k;
        let mut offset = vec![0u64; self.cols.len()];
        let mut shift = vec![0usize; self.fks.len()];
        let mut attempt = 0;
        let (row, deferred) = loop {
            let (row, origins, deferred) = self.compose(j, user, alt, k0, &offset, &shift);
            attempt += 1;
            let Some(set) = self.conflict(&row) else {
                break (row, deferred);
            };
            if attempt >= MAX_ATTEMPTS {
                break (row, deferred);
            }
            let set = &self.unique_sets[set];
            let generated: Vec<usize> = set
                .iter()
                .copied()
                .filter(|&c| origins[c] == Origin::Generated)
                .collect();
            let foreign: BTreeSet<usize> = set
                .iter()
                .filter_map(|&c| match origins[c] {
                    Origin::Foreign(fi) => Some(fi),
                    _ => None,
                })
                .collect();
            // Own values first; parent rows in turn when both can change, since a small
            // domain (a boolean, an enum) may run out.
            let own_turn = !generated.is_empty() && (foreign.is_empty() || attempt % 2 == 1);
            if !own_turn {
                // Next combination of parent rows, odometer-style.
                let mut exhausted = true;
                for fi in foreign {
                    let choices = match self.fks[fi].mode {
                        Mode::SelfRef => j.max(1),
                        _ => self.fks[fi].parent_rows.max(1),
                    };
                    shift[fi] += 1;
                    if shift[fi] < choices {
                        exhausted = false;
                        break;
                    }
                    shift[fi] = 0;
                }
                if !exhausted {
                    continue;
                }
                if generated.is_empty() {
                    break (row, deferred); // every combination taken: the database decides
                }
            }
            for c in generated {
                offset[c] += 1;
            }
        };
        self.register(&row);
        self.next_k = k0 + 1 + offset.iter().copied().max().unwrap_or(0);
        if !alt {
            for fi in deferred {
                let fk = &self.fks[fi];
                if fk.parent_rows == 0 {
                    continue;
                }
                links.push(Link {
                    table: self.table.to_owned(),
                    row: j,
                    columns: fk.all_columns.iter().map(|c| (*c).to_owned()).collect(),
                    parent_table: fk.parent.to_owned(),
                    parent_row: (j + shift[fi]) % fk.parent_rows,
                    parent_columns: fk.parent_columns.iter().map(|c| (*c).to_owned()).collect(),
                });
            }
        }
        row
    }

    /// One candidate for row `j`: values, where each came from, and the cycle-breaking
    /// foreign keys left NULL.
    ///
    /// Primary rows give every column a value, except that a column with a server default
    /// is left to it in every other row. Retry rows (`alt`) are minimal: required columns
    /// only, nullable ones NULL. A SQLite `INTEGER PRIMARY KEY` is a rowid the database
    /// assigns, except in `WITHOUT ROWID` tables, which the snapshot does not tell apart:
    /// retry rows give it explicitly (harmless for a rowid, which SQLite keeps above the
    /// largest in use).
    fn compose(
        &self,
        j: usize,
        user: Option<&serde_json::Map<String, serde_json::Value>>,
        alt: bool,
        k0: u64,
        offset: &[u64],
        shift: &[usize],
    ) -> (Row, Vec<Origin>, Vec<usize>) {
        let mut row = Row::new();
        let mut origins = vec![Origin::Absent; self.cols.len()];
        let mut deferred = Vec::new();
        for (ci, c) in self.cols.iter().enumerate() {
            if let Some(v) = user.and_then(|u| u.get(c.name)) {
                row.insert(c.name.to_owned(), from_json(&c.kind, v));
                origins[ci] = Origin::User;
                continue;
            }
            if c.fk.is_some() {
                continue;
            }
            if c.generated {
                if alt && c.rowid_alias {
                    row.insert(c.name.to_owned(), Value::Int(SQLITE_RETRY_ROWID + j as i64));
                    origins[ci] = Origin::Fixed;
                }
                continue;
            }
            let k = k0 + offset[ci] + c.level;
            let (value, origin) = if user.is_some() {
                if !c.required() || c.has_default {
                    continue;
                }
                (self.generate(c, k, alt), Origin::Generated)
            } else if alt {
                if c.has_default && !c.always {
                    continue;
                }
                if !c.required() && !c.always {
                    (Value::Null, Origin::Fixed)
                } else {
                    (self.generate(c, k, alt), Origin::Generated)
                }
            } else {
                if c.has_default && !c.always && j % 2 == 1 {
                    continue;
                }
                if c.kind == Kind::Unknown && !c.required() {
                    (Value::Null, Origin::Fixed)
                } else {
                    (self.generate(c, k, alt), Origin::Generated)
                }
            };
            row.insert(c.name.to_owned(), value);
            origins[ci] = origin;
        }

        for (fi, fk) in self.fks.iter().enumerate() {
            let todo: Vec<(usize, &str)> = fk
                .claimed
                .iter()
                .copied()
                .filter(|(c, _)| !row.contains_key(self.cols[*c].name))
                .collect();
            if todo.is_empty() {
                continue;
            }
            let required = todo.iter().any(|(c, _)| self.cols[*c].required());
            if user.is_some()
                && todo
                    .iter()
                    .all(|(c, _)| !self.cols[*c].required() || self.cols[*c].has_default)
            {
                continue; // the user left it out: the database's default or NULL
            }
            let set = |row: &mut Row, origins: &mut Vec<Origin>, c: usize, v: Value| {
                row.insert(self.cols[c].name.to_owned(), v);
                origins[c] = Origin::Foreign(fi);
            };
            if alt && !required {
                for (c, _) in &todo {
                    set(&mut row, &mut origins, *c, Value::Null);
                }
                continue;
            }
            let reference = |table: &str, r: usize, column: &str| {
                Value::Ref(RowRef {
                    table: table.to_owned(),
                    row: r,
                    column: column.to_owned(),
                })
            };
            match fk.mode {
                Mode::External => {
                    for (c, _) in &todo {
                        let col = &self.cols[*c];
                        let v = if required {
                            self.generate(col, k0 + offset[*c] + col.level, alt)
                        } else {
                            Value::Null
                        };
                        row.insert(col.name.to_owned(), v);
                        origins[*c] = Origin::Generated;
                    }
                }
                Mode::Deferred => {
                    for (c, _) in &todo {
                        set(&mut row, &mut origins, *c, Value::Null);
                    }
                    deferred.push(fi);
                }
                Mode::SelfRef if j == 0 => {
                    // The first row has no earlier row: NULL, else itself when its key is
                    // known now.
                    for (c, parent_column) in &todo {
                        let v = if !required {
                            Value::Null
                        } else {
                            match row.get(*parent_column) {
                                Some(v) if !matches!(v, Value::Ref(_) | Value::Null) => v.clone(),
                                _ => reference(self.table, j, parent_column),
                            }
                        };
                        set(&mut row, &mut origins, *c, v);
                    }
                }
                Mode::SelfRef => {
                    let pick = j - 1 - (shift[fi] % j);
                    for (c, parent_column) in &todo {
                        set(
                            &mut row,
                            &mut origins,
                            *c,
                            reference(self.table, pick, parent_column),
                        );
                    }
                }
                Mode::Normal | Mode::Forced => {
                    for (c, parent_column) in &todo {
                        let v = if fk.parent_rows == 0 {
                            if required {
                                reference(fk.parent, 0, parent_column)
                            } else {
                                Value::Null
                            }
                        } else {
                            let pick = (j + shift[fi]) % fk.parent_rows;
                            reference(fk.parent, pick, parent_column)
                        };
                        set(&mut row, &mut origins, *c, v);
                    }
                }
            }
        }
        (row, origins, deferred)
    }

    /// The `k`-th value of a column. A column of a type this module does not know (a
    /// domain, an extension's type) gets a text literal, and in retry rows the bare number
    /// `k`, which domains over numbers and strings both accept.
    fn generate(&self, c: &ColPlan<'_>, k: u64, alt: bool) -> Value {
        if alt && c.kind == Kind::Unknown && c.rules.one_of.is_none() {
            return Value::Text(k.to_string());
        }
        Gen {
            table: self.table,
            column: c.name,
            kind: &c.kind,
            rules: &c.rules,
        }
        .value(k)
    }

    fn keys(&self, row: &Row) -> Vec<Option<String>> {
        self.unique_sets
            .iter()
            .map(|set| {
                let mut key = String::new();
                for &c in set {
                    let part = row.get(self.cols[c].name).and_then(unique_key)?;
                    key.push_str(&part);
                    key.push('\u{1f}');
                }
                Some(key)
            })
            .collect()
    }

    /// The first unique key `row` repeats.
    fn conflict(&self, row: &Row) -> Option<usize> {
        self.keys(row)
            .into_iter()
            .enumerate()
            .find(|(i, key)| key.as_ref().is_some_and(|k| self.seen[*i].contains(k)))
            .map(|(i, _)| i)
    }

    fn register(&mut self, row: &Row) {
        for (i, key) in self.keys(row).into_iter().enumerate() {
            if let Some(key) = key {
                self.seen[i].insert(key);
            }
        }
    }
}

/// How a value compares in a unique index: NULLs never collide; text case-insensitively
/// and without trailing spaces (MySQL's default collations).
fn unique_key(value: &Value) -> Option<String> {
    Some(match value {
        Value::Null => return None,
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Text(s) | Value::Decimal(s) => s.trim_end().to_lowercase(),
        Value::Bool(b) => b.to_string(),
        Value::Json(j) => j.to_string(),
        Value::Bytes(b) => super::hex(b),
        Value::Ref(r) => format!("\u{1}{}\u{1}{}\u{1}{}", r.table, r.row, r.column),
    })
}

/// Whether the database fills the column itself: identity, serial (`nextval(...)`),
/// AUTO_INCREMENT, generated columns.
fn is_generated(column: &Column) -> bool {
    let extra = column.extra.as_deref().unwrap_or("").to_ascii_lowercase();
    extra.contains("identity")
        || extra.contains("auto_increment")
        || extra.contains("autoincrement")
        || extra.contains("generated")
        || column
            .default
            .as_deref()
            .is_some_and(|d| d.trim_start().to_ascii_lowercase().starts_with("nextval("))
}

/// The columns a unique index's key part covers: the column itself (`email DESC`,
/// `` name(10) ``), or the columns an expression (`lower(email)`) mentions.
fn index_part_columns(part: &str, index: &BTreeMap<&str, usize>) -> Vec<usize> {
    let part = part.trim();
    let part = part
        .strip_suffix(" DESC")
        .or_else(|| part.strip_suffix(" DESC NULLS LAST"))
        .or_else(|| part.strip_suffix(" NULLS FIRST"))
        .unwrap_or(part);
    let bare = match part.find('(') {
        Some(i)
            if part.ends_with(')')
                && part[i + 1..part.len() - 1]
                    .chars()
                    .all(|c| c.is_ascii_digit()) =>
        {
            &part[..i]
        }
        _ => part,
    };
    let unquoted = bare.trim_matches(|c| c == '"' || c == '`');
    if let Some(&c) = index.get(unquoted) {
        return vec![c];
    }
    part.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
        .filter_map(|word| index.get(word).copied())
        .collect()
}

/// A user's JSON value, as the column's type wants it bound.
pub(crate) fn from_json(kind: &Kind, value: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match value {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => match kind {
            Kind::Decimal { .. } | Kind::Money => Value::Decimal(n.to_string()),
            Kind::Json => Value::Json(value.clone()),
            _ => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => match n.as_f64() {
                    Some(f) if n.is_f64() => Value::Float(f),
                    _ => Value::Decimal(n.to_string()),
                },
            },
        },
        J::String(s) => match kind {
            Kind::Bytes { .. } => Value::Bytes(s.clone().into_bytes()),
            _ => Value::Text(s.clone()),
        },
        J::Array(items) => match kind {
            Kind::Array(_) => Value::Text(pg_array(items)),
            _ => Value::Json(value.clone()),
        },
        J::Object(_) => Value::Json(value.clone()),
    }
}

fn pg_array(items: &[serde_json::Value]) -> String {
    use serde_json::Value as J;
    let elements: Vec<String> = items
        .iter()
        .map(|item| match item {
            J::Null => "NULL".to_owned(),
            J::Bool(b) => (if *b { "t" } else { "f" }).to_owned(),
            J::Number(n) => n.to_string(),
            J::String(s) => quote_array_element(s),
            J::Array(inner) => pg_array(inner),
            J::Object(_) => quote_array_element(&item.to_string()),
        })
        .collect();
    format!("{{{}}}", elements.join(","))
}
