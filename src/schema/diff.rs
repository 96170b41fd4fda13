//! The difference between two snapshots, as a list of readable one-line changes.
//!
//! Order is fixed so that the same two snapshots always print the same text: enum types,
//! sequences, then tables by name (the table itself, its columns by name, primary key, unique
//! constraints, foreign keys, checks, indexes), then views.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::snapshot::{
    CheckConstraint, Column, ForeignKey, Index, PrimaryKey, SchemaSnapshot, Sequence, Table,
    UniqueConstraint, column_list,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub kind: ChangeKind,
    /// Stable path of the object: `table users`, `users.email`, `index ix_users_email`,
    /// `fk users(org_id) -> orgs(id)`, `unique users (email)`, `check users ck_age`,
    /// `primary key users`, `view v`, `sequence s`, `enum mood`.
    pub object: String,
    /// What a person reads: `+ users.legacy_flag boolean`, `~ users.email: nullable -> NOT NULL`.
    pub line: String,
    /// For `changed`: the old and new value of the attribute that changed (for views, the
    /// whole definitions, which the line leaves out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaDiff {
    pub changes: Vec<Change>,
}

impl SchemaDiff {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// The readable lines, in order.
    pub fn lines(&self) -> Vec<&str> {
        self.changes.iter().map(|c| c.line.as_str()).collect()
    }
}

impl fmt::Display for SchemaDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, change) in self.changes.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            f.write_str(&change.line)?;
        }
        Ok(())
    }
}

/// Everything that differs from `before` to `after`; empty when the schemas are equal.
/// Column ordinals and the snapshot's engine are not compared.
pub fn diff(before: &SchemaSnapshot, after: &SchemaSnapshot) -> SchemaDiff {
    let mut out = Differ::default();
    for (name, old, new) in merge(&before.enums, &after.enums) {
        out.enum_type(name, old, new);
    }
    for (name, old, new) in merge(&before.sequences, &after.sequences) {
        out.sequence(name, old, new);
    }
    for (name, old, new) in merge(&before.tables, &after.tables) {
        match (old, new) {
            (Some(_), None) => out.removed(format!("table {name}"), format!("table {name}")),
            (None, Some(_)) => out.added(format!("table {name}"), format!("table {name}")),
            (Some(old), Some(new)) => out.table(name, old, new),
            (None, None) => {}
        }
    }
    for (name, old, new) in merge(&before.views, &after.views) {
        let object = format!("view {name}");
        match (old, new) {
            (Some(_), None) => out.removed(object.clone(), object),
            (None, Some(_)) => out.added(object.clone(), object),
            (Some(old), Some(new)) if old != new => out.changed(
                object.clone(),
                format!("{object}: definition changed"),
                old.clone(),
                new.clone(),
            ),
            _ => {}
        }
    }
    SchemaDiff {
        changes: out.changes,
    }
}

/// Keys of both maps in order, with the value on each side.
fn merge<'a, T>(
    before: &'a BTreeMap<String, T>,
    after: &'a BTreeMap<String, T>,
) -> impl Iterator<Item = (&'a str, Option<&'a T>, Option<&'a T>)> {
    let keys: BTreeSet<&'a String> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .map(|k| (k.as_str(), before.get(k), after.get(k)))
}

fn or_none(value: Option<&str>) -> &str {
    value.unwrap_or("(none)")
}

fn quoted_labels(labels: &[String]) -> String {
    let quoted: Vec<String> = labels
        .iter()
        .map(|l| format!("'{}'", l.replace('\'', "''")))
        .collect();
    format!("({})", quoted.join(","))
}

fn describe_column(column: &Column) -> String {
    let mut text = column.data_type.clone();
    if !column.nullable {
        text.push_str(" NOT NULL");
    }
    if let Some(default) = &column.default {
        text.push_str(" DEFAULT ");
        text.push_str(default);
    }
    if let Some(extra) = &column.extra {
        text.push(' ');
        text.push_str(extra);
    }
    text
}

fn named(name: &Option<String>) -> String {
    name.as_ref().map(|n| format!("{n} ")).unwrap_or_default()
}

fn describe_fk(table: &str, fk: &ForeignKey) -> String {
    let mut text = format!(
        "fk {}{table}{} -> {}{}",
        named(&fk.name),
        column_list(&fk.columns),
        fk.referred_table,
        column_list(&fk.referred_columns)
    );
    // NO ACTION and RESTRICT are what every engine does unless told otherwise (MariaDB
    // reports its default as RESTRICT); only deliberate actions are worth a reader's eye here.
    for (label, action) in [("on delete", &fk.on_delete), ("on update", &fk.on_update)] {
        if action != "NO ACTION" && action != "RESTRICT" {
            text.push_str(&format!(" {label} {action}"));
        }
    }
    text
}

fn describe_index(table: &str, index: &Index) -> String {
    let mut text = format!(
        "{}index {}on {table} {}",
        if index.unique { "unique " } else { "" },
        named(&index.name),
        column_list(&index.columns)
    );
    if let Some(method) = &index.method {
        text.push_str(&format!(" using {method}"));
    }
    if let Some(predicate) = &index.predicate {
        text.push_str(&format!(" where {predicate}"));
    }
    text
}

fn describe_sequence(seq: &Sequence) -> String {
    format!(
        "{} start {} increment {}{}",
        seq.data_type,
        seq.start,
        seq.increment,
        if seq.cycle { " cycle" } else { "" }
    )
}

#[derive(Default)]
struct Differ {
    changes: Vec<Change>,
}

impl Differ {
    fn push(&mut self, kind: ChangeKind, object: String, line: String) {
        self.changes.push(Change {
            kind,
            object,
            line,
            before: None,
            after: None,
        });
    }

    fn added(&mut self, object: String, what: String) {
        self.push(ChangeKind::Added, object, format!("+ {what}"));
    }

    fn removed(&mut self, object: String, what: String) {
        self.push(ChangeKind::Removed, object, format!("- {what}"));
    }

    /// `~ {subject}: {label}{before} -> {after}`
    fn attribute(&mut self, object: &str, subject: &str, label: &str, old: &str, new: &str) {
        self.changed(
            object.to_owned(),
            format!("~ {subject}: {label}{old} -> {new}"),
            old.to_owned(),
            new.to_owned(),
        );
    }

    /// `~ subject: name old -> new` when a constraint or index was renamed.
    fn renamed(&mut self, object: &str, subject: &str, old: &Option<String>, new: &Option<String>) {
        if old != new {
            self.attribute(
                object,
                subject,
                "name ",
                or_none(old.as_deref()),
                or_none(new.as_deref()),
            );
        }
    }

    fn changed(&mut self, object: String, line: String, old: String, new: String) {
        let line = if line.starts_with("~ ") {
            line
        } else {
            format!("~ {line}")
        };
        self.changes.push(Change {
            kind: ChangeKind::Changed,
            object,
            line,
            before: Some(old),
            after: Some(new),
        });
    }

    fn enum_type(&mut self, name: &str, old: Option<&Vec<String>>, new: Option<&Vec<String>>) {
        let object = format!("enum {name}");
        match (old, new) {
            (Some(old), None) => {
                self.removed(object, format!("enum {name} {}", quoted_labels(old)))
            }
            (None, Some(new)) => self.added(object, format!("enum {name} {}", quoted_labels(new))),
            (Some(old), Some(new)) if old != new => {
                let subject = object.clone();
                self.attribute(
                    &object,
                    &subject,
                    "",
                    &quoted_labels(old),
                    &quoted_labels(new),
                )
            }
            _ => {}
        }
    }

    fn sequence(&mut self, name: &str, old: Option<&Sequence>, new: Option<&Sequence>) {
        let object = format!("sequence {name}");
        match (old, new) {
            (Some(old), None) => self.removed(
                object.clone(),
                format!("{object} {}", describe_sequence(old)),
            ),
            (None, Some(new)) => self.added(
                object.clone(),
                format!("{object} {}", describe_sequence(new)),
            ),
            (Some(old), Some(new)) => {
                let fields: [(&str, String, String); 6] = [
                    ("type ", old.data_type.clone(), new.data_type.clone()),
                    ("start ", old.start.to_string(), new.start.to_string()),
                    (
                        "increment ",
                        old.increment.to_string(),
                        new.increment.to_string(),
                    ),
                    ("min ", old.min_value.to_string(), new.min_value.to_string()),
                    ("max ", old.max_value.to_string(), new.max_value.to_string()),
                    ("cycle ", old.cycle.to_string(), new.cycle.to_string()),
                ];
                for (label, a, b) in fields {
                    if a != b {
                        self.attribute(&object, &object, label, &a, &b);
                    }
                }
            }
            (None, None) => {}
        }
    }

    fn table(&mut self, t: &str, old: &Table, new: &Table) {
        for (name, a, b) in merge(&old.columns, &new.columns) {
            self.column(t, name, a, b);
        }
        self.primary_key(t, old.primary_key.as_ref(), new.primary_key.as_ref());
        for (key, a, b) in merge(&old.unique_constraints, &new.unique_constraints) {
            self.unique(t, key, a, b);
        }
        for (key, a, b) in merge(&old.foreign_keys, &new.foreign_keys) {
            self.foreign_key(t, key, a, b);
        }
        for (key, a, b) in merge(&old.check_constraints, &new.check_constraints) {
            self.check(t, key, a, b);
        }
        for (key, a, b) in merge(&old.indexes, &new.indexes) {
            self.index(t, key, a, b);
        }
    }

    fn column(&mut self, t: &str, name: &str, old: Option<&Column>, new: Option<&Column>) {
        let object = format!("{t}.{name}");
        match (old, new) {
            (Some(old), None) => {
                self.removed(object.clone(), format!("{object} {}", describe_column(old)))
            }
            (None, Some(new)) => {
                self.added(object.clone(), format!("{object} {}", describe_column(new)))
            }
            (Some(old), Some(new)) => {
                if old.data_type != new.data_type {
                    self.attribute(&object, &object, "type ", &old.data_type, &new.data_type);
                }
                if old.nullable != new.nullable {
                    let show = |nullable| if nullable { "nullable" } else { "NOT NULL" };
                    self.attribute(&object, &object, "", show(old.nullable), show(new.nullable));
                }
                if old.default != new.default {
                    self.attribute(
                        &object,
                        &object,
                        "default ",
                        or_none(old.default.as_deref()),
                        or_none(new.default.as_deref()),
                    );
                }
                if old.extra != new.extra {
                    self.attribute(
                        &object,
                        &object,
                        "extra ",
                        or_none(old.extra.as_deref()),
                        or_none(new.extra.as_deref()),
                    );
                }
            }
            (None, None) => {}
        }
    }

    fn primary_key(&mut self, t: &str, old: Option<&PrimaryKey>, new: Option<&PrimaryKey>) {
        let object = format!("primary key {t}");
        let describe = |pk: &PrimaryKey| {
            format!(
                "primary key {}on {t} {}",
                named(&pk.name),
                column_list(&pk.columns)
            )
        };
        match (old, new) {
            (Some(old), None) => self.removed(object, describe(old)),
            (None, Some(new)) => self.added(object, describe(new)),
            (Some(old), Some(new)) => {
                let subject = format!("primary key on {t}");
                if old.columns != new.columns {
                    self.attribute(
                        &object,
                        &subject,
                        "",
                        &column_list(&old.columns),
                        &column_list(&new.columns),
                    );
                }
                self.renamed(&object, &subject, &old.name, &new.name);
            }
            (None, None) => {}
        }
    }

    fn unique(
        &mut self,
        t: &str,
        key: &str,
        old: Option<&UniqueConstraint>,
        new: Option<&UniqueConstraint>,
    ) {
        let object = format!("unique {t} {key}");
        let describe = |u: &UniqueConstraint| {
            format!(
                "unique {}on {t} {}",
                named(&u.name),
                column_list(&u.columns)
            )
        };
        match (old, new) {
            (Some(old), None) => self.removed(object, describe(old)),
            (None, Some(new)) => self.added(object, describe(new)),
            (Some(old), Some(new)) => self.renamed(
                &object,
                &format!("unique on {t} {}", column_list(&new.columns)),
                &old.name,
                &new.name,
            ),
            (None, None) => {}
        }
    }

    fn foreign_key(
        &mut self,
        t: &str,
        key: &str,
        old: Option<&ForeignKey>,
        new: Option<&ForeignKey>,
    ) {
        // The key reads `(cols) -> referred(cols)`; glued to the table it reads like the DDL.
        let object = format!("fk {t}{key}");
        match (old, new) {
            (Some(old), None) => self.removed(object, describe_fk(t, old)),
            (None, Some(new)) => self.added(object, describe_fk(t, new)),
            (Some(old), Some(new)) => {
                for (label, a, b) in [
                    ("on delete ", &old.on_delete, &new.on_delete),
                    ("on update ", &old.on_update, &new.on_update),
                ] {
                    if a != b {
                        self.attribute(&object, &object, label, a, b);
                    }
                }
                self.renamed(&object, &object, &old.name, &new.name);
            }
            (None, None) => {}
        }
    }

    fn check(
        &mut self,
        t: &str,
        key: &str,
        old: Option<&CheckConstraint>,
        new: Option<&CheckConstraint>,
    ) {
        let object = format!("check {t} {key}");
        let describe =
            |c: &CheckConstraint| format!("check {}on {t} {}", named(&c.name), c.expression);
        match (old, new) {
            (Some(old), None) => self.removed(object, describe(old)),
            (None, Some(new)) => self.added(object, describe(new)),
            (Some(old), Some(new)) if old != new => {
                let subject = format!("check {}on {t}", named(&new.name));
                if old.expression != new.expression {
                    self.attribute(&object, &subject, "", &old.expression, &new.expression);
                }
                self.renamed(&object, &subject, &old.name, &new.name);
            }
            _ => {}
        }
    }

    fn index(&mut self, t: &str, key: &str, old: Option<&Index>, new: Option<&Index>) {
        let object = match old.or(new).and_then(|i| i.name.as_ref()) {
            Some(name) => format!("index {name}"),
            None => format!("index {t} {key}"),
        };
        match (old, new) {
            (Some(old), None) => self.removed(object, describe_index(t, old)),
            (None, Some(new)) => self.added(object, describe_index(t, new)),
            (Some(old), Some(new)) => {
                let subject = format!("index {}on {t}", named(&new.name));
                if old.columns != new.columns {
                    self.attribute(
                        &object,
                        &subject,
                        "",
                        &column_list(&old.columns),
                        &column_list(&new.columns),
                    );
                }
                if old.unique != new.unique {
                    let show = |unique| if unique { "unique" } else { "not unique" };
                    self.attribute(&object, &subject, "", show(old.unique), show(new.unique));
                }
                if old.method != new.method {
                    self.attribute(
                        &object,
                        &subject,
                        "using ",
                        old.method.as_deref().unwrap_or("(default)"),
                        new.method.as_deref().unwrap_or("(default)"),
                    );
                }
                if old.predicate != new.predicate {
                    self.attribute(
                        &object,
                        &subject,
                        "where ",
                        or_none(old.predicate.as_deref()),
                        or_none(new.predicate.as_deref()),
                    );
                }
            }
            (None, None) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Engine;

    fn column(data_type: &str, nullable: bool, default: Option<&str>) -> Column {
        Column {
            data_type: data_type.into(),
            nullable,
            default: default.map(Into::into),
            extra: None,
            ordinal: 1,
        }
    }

    fn cols(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn base() -> SchemaSnapshot {
        let mut snap = SchemaSnapshot::new(Engine::Postgres);
        let mut users = Table::default();
        users
            .columns
            .insert("id".into(), column("integer", false, None));
        users
            .columns
            .insert("email".into(), column("character varying(255)", true, None));
        users
            .columns
            .insert("status".into(), column("text", false, Some("'a'")));
        users
            .columns
            .insert("org_id".into(), column("integer", true, None));
        users.primary_key = Some(PrimaryKey {
            name: None,
            columns: cols(&["id"]),
        });
        users.add_unique(UniqueConstraint {
            name: None,
            columns: cols(&["email"]),
        });
        users.add_check(CheckConstraint {
            name: Some("ck_status".into()),
            expression: "(status <> '')".into(),
        });
        users.add_index(Index {
            name: Some("ix_users_org".into()),
            columns: cols(&["org_id"]),
            unique: false,
            method: None,
            predicate: None,
        });
        snap.tables.insert("users".into(), users);
        let mut orgs = Table::default();
        orgs.columns
            .insert("id".into(), column("integer", false, None));
        snap.tables.insert("orgs".into(), orgs);
        snap.tables.insert("audit_log".into(), Table::default());
        snap.views
            .insert("active".into(), "SELECT id FROM users".into());
        snap.enums.insert("mood".into(), cols(&["happy", "sad"]));
        snap
    }

    #[test]
    fn identical_snapshots_have_no_diff() {
        let d = diff(&base(), &base());
        assert!(d.is_empty());
        assert_eq!(d.to_string(), "");
    }

    #[test]
    fn ordinal_is_not_compared() {
        let mut after = base();
        after
            .tables
            .get_mut("users")
            .unwrap()
            .columns
            .get_mut("email")
            .unwrap()
            .ordinal = 9;
        assert!(diff(&base(), &after).is_empty());
    }

    #[test]
    fn every_kind_of_change_reads_as_one_line() {
        let before = base();
        let mut after = base();
        after.tables.remove("audit_log");
        after.tables.insert("invoices".into(), Table::default());
        let users = after.tables.get_mut("users").unwrap();
        users
            .columns
            .insert("legacy_flag".into(), column("boolean", true, None));
        users.columns.get_mut("email").unwrap().nullable = false;
        users.columns.get_mut("status").unwrap().default = Some("'b'".into());
        users.columns.get_mut("org_id").unwrap().data_type = "bigint".into();
        users.indexes.clear();
        users.add_index(Index {
            name: Some("ix_users_email".into()),
            columns: cols(&["email"]),
            unique: true,
            method: None,
            predicate: Some("(status = 'a')".into()),
        });
        users.add_foreign_key(ForeignKey {
            name: None,
            columns: cols(&["org_id"]),
            referred_table: "orgs".into(),
            referred_columns: cols(&["id"]),
            on_delete: "CASCADE".into(),
            on_update: "NO ACTION".into(),
        });
        users.add_check(CheckConstraint {
            name: None,
            expression: "(id > 0)".into(),
        });
        users
            .check_constraints
            .get_mut("ck_status")
            .unwrap()
            .expression = "(status <> 'x')".into();
        after
            .views
            .insert("active".into(), "SELECT id, email FROM users".into());
        after.enums.get_mut("mood").unwrap().push("meh".into());
        after.enums.insert("color".into(), cols(&["red"]));
        after.sequences.insert(
            "invoice_no".into(),
            Sequence {
                data_type: "bigint".into(),
                start: 1000,
                increment: 1,
                min_value: 1,
                max_value: i64::MAX,
                cycle: false,
            },
        );

        let d = diff(&before, &after);
        let expected = [
            "+ enum color ('red')",
            "~ enum mood: ('happy','sad') -> ('happy','sad','meh')",
            "+ sequence invoice_no bigint start 1000 increment 1",
            "- table audit_log",
            "+ table invoices",
            "~ users.email: nullable -> NOT NULL",
            "+ users.legacy_flag boolean",
            "~ users.org_id: type integer -> bigint",
            "~ users.status: default 'a' -> 'b'",
            "+ fk users(org_id) -> orgs(id) on delete CASCADE",
            "+ check on users (id > 0)",
            "~ check ck_status on users: (status <> '') -> (status <> 'x')",
            "+ unique index ix_users_email on users (email) where (status = 'a')",
            "- index ix_users_org on users (org_id)",
            "~ view active: definition changed",
        ];
        assert_eq!(d.lines(), expected);
        assert_eq!(d.to_string(), expected.join("\n"));

        let objects: Vec<&str> = d.changes.iter().map(|c| c.object.as_str()).collect();
        assert_eq!(objects[9], "fk users(org_id) -> orgs(id)");
        assert_eq!(objects[12], "index ix_users_email");
        assert_eq!(objects[5], "users.email");
        let view = d.changes.last().unwrap();
        assert_eq!(view.kind, ChangeKind::Changed);
        assert_eq!(view.after.as_deref(), Some("SELECT id, email FROM users"));

        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["changes"][3]["kind"], "removed");
        let back: SchemaDiff = serde_json::from_value(json).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn attribute_changes_of_constraints_and_indexes() {
        let mut before = base();
        let users = before.tables.get_mut("users").unwrap();
        users.add_foreign_key(ForeignKey {
            name: Some("fk_users_org".into()),
            columns: cols(&["org_id"]),
            referred_table: "orgs".into(),
            referred_columns: cols(&["id"]),
            on_delete: "NO ACTION".into(),
            on_update: "NO ACTION".into(),
        });
        let mut after = before.clone();
        let users = after.tables.get_mut("users").unwrap();
        users
            .foreign_keys
            .values_mut()
            .for_each(|fk| fk.on_delete = "SET NULL".into());
        let ix = users.indexes.get_mut("ix_users_org").unwrap();
        ix.columns.push("id DESC".into());
        ix.method = Some("hash".into());
        users.primary_key = None;
        users
            .unique_constraints
            .values_mut()
            .for_each(|u| u.name = Some("uq_email".into()));
        users.columns.remove("status");

        assert_eq!(
            diff(&before, &after).lines(),
            [
                "- users.status text NOT NULL DEFAULT 'a'",
                "- primary key on users (id)",
                "~ unique on users (email): name (none) -> uq_email",
                "~ fk users(org_id) -> orgs(id): on delete NO ACTION -> SET NULL",
                "~ index ix_users_org on users: (org_id) -> (org_id, id DESC)",
                "~ index ix_users_org on users: using (default) -> hash",
            ]
        );
        assert_eq!(
            diff(&after, &before).lines()[1],
            "+ primary key on users (id)"
        );
    }

    #[test]
    fn snapshots_round_trip_through_json() {
        let snap = base();
        let text = serde_json::to_string(&snap).unwrap();
        let back: SchemaSnapshot = serde_json::from_str(&text).unwrap();
        assert_eq!(back, snap);
        assert!(diff(&snap, &back).is_empty());
    }
}
