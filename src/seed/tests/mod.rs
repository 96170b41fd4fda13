//! `plan` on hand-built snapshots, and seeding real engines (SQLite always; PostgreSQL and
//! MariaDB/MySQL through the schema tests' servers).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::{SeedPlan, TablePlan, UserRows, Value, plan};
use crate::engine::Engine;
use crate::schema::{
    CheckConstraint, Column, ForeignKey, PrimaryKey, SchemaSnapshot, Table, UniqueConstraint,
};

mod mysql;
mod postgres;
mod sqlite;

const TIMING_RUNS: usize = 7;

/// A table, column by column.
struct T(Table);

impl T {
    fn new() -> T {
        T(Table::default())
    }

    fn col(mut self, name: &str, data_type: &str, nullable: bool) -> T {
        let ordinal = self.0.columns.len() as u32 + 1;
        self.0.columns.insert(
            name.to_owned(),
            Column {
                data_type: data_type.to_owned(),
                nullable,
                default: None,
                extra: None,
                ordinal,
            },
        );
        self
    }

    fn default(mut self, name: &str, expr: &str) -> T {
        self.0.columns.get_mut(name).expect("column").default = Some(expr.to_owned());
        self
    }

    fn extra(mut self, name: &str, extra: &str) -> T {
        self.0.columns.get_mut(name).expect("column").extra = Some(extra.to_owned());
        self
    }

    fn pk(mut self, columns: &[&str]) -> T {
        self.0.primary_key = Some(PrimaryKey {
            name: None,
            columns: strings(columns),
        });
        self
    }

    fn unique(mut self, columns: &[&str]) -> T {
        self.0.add_unique(UniqueConstraint {
            name: None,
            columns: strings(columns),
        });
        self
    }

    fn fk(mut self, columns: &[&str], parent: &str, parent_columns: &[&str]) -> T {
        self.0.add_foreign_key(ForeignKey {
            name: None,
            columns: strings(columns),
            referred_table: parent.to_owned(),
            referred_columns: strings(parent_columns),
            on_delete: "NO ACTION".into(),
            on_update: "NO ACTION".into(),
        });
        self
    }

    fn check(mut self, expression: &str) -> T {
        self.0.add_check(CheckConstraint {
            name: None,
            expression: expression.to_owned(),
        });
        self
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn snapshot(engine: Engine, tables: Vec<(&str, T)>) -> SchemaSnapshot {
    let mut snap = SchemaSnapshot::new(engine);
    for (name, table) in tables {
        snap.tables.insert(name.to_owned(), table.0);
    }
    snap
}

/// serial / identity primary key `id`.
fn serial() -> T {
    T::new()
        .col("id", "integer", false)
        .default("id", "nextval('x_id_seq'::regclass)")
        .pk(&["id"])
}

fn table<'p>(plan: &'p SeedPlan, name: &str) -> &'p TablePlan {
    plan.tables
        .iter()
        .find(|t| t.table == name)
        .unwrap_or_else(|| panic!("no plan for {name}"))
}

fn position(plan: &SeedPlan, name: &str) -> usize {
    plan.tables
        .iter()
        .position(|t| t.table == name)
        .expect("table")
}

fn reference(table: &str, row: usize, column: &str) -> Value {
    Value::Ref(super::RowRef {
        table: table.to_owned(),
        row,
        column: column.to_owned(),
    })
}

fn no_user_rows() -> UserRows {
    UserRows::new()
}

fn blog() -> SchemaSnapshot {
    let mut snap = snapshot(
        Engine::Postgres,
        vec![
            (
                "comments",
                serial()
                    .col("user_id", "bigint", false)
                    .col("body", "text", false)
                    .fk(&["user_id"], "users", &["id"]),
            ),
            (
                "orgs",
                serial()
                    .col("slug", "character varying(5)", false)
                    .col("name", "text", false)
                    .unique(&["slug"]),
            ),
            (
                "users",
                T::new()
                    .col("id", "bigint", false)
                    .extra("id", "generated always as identity")
                    .pk(&["id"])
                    .col("org_id", "integer", false)
                    .col("email", "character varying(255)", false)
                    .col("manager_id", "bigint", true)
                    .col("mood", "mood", true)
                    .fk(&["org_id"], "orgs", &["id"])
                    .fk(&["manager_id"], "users", &["id"])
                    .unique(&["org_id", "email"]),
            ),
        ],
    );
    snap.enums
        .insert("mood".into(), vec!["happy".into(), "sad".into()]);
    snap
}

#[test]
fn parents_come_first_and_children_refer_to_their_rows() {
    let plan = plan(&blog(), 3, &no_user_rows());
    assert!(position(&plan, "orgs") < position(&plan, "users"));
    assert!(position(&plan, "users") < position(&plan, "comments"));

    let orgs = table(&plan, "orgs");
    assert_eq!(orgs.rows.len(), 3);
    assert!(
        orgs.rows.iter().all(|r| !r.contains_key("id")),
        "serial id given"
    );
    assert_eq!(orgs.returning, ["id"]);

    let users = table(&plan, "users");
    assert!(
        users.rows.iter().all(|r| !r.contains_key("id")),
        "identity given"
    );
    let org_refs: Vec<&Value> = users.rows.iter().map(|r| &r["org_id"]).collect();
    assert_eq!(
        org_refs,
        [
            &reference("orgs", 0, "id"),
            &reference("orgs", 1, "id"),
            &reference("orgs", 2, "id")
        ]
    );
    // Self-reference: NULL for the first row, then an earlier row.
    let managers: Vec<&Value> = users.rows.iter().map(|r| &r["manager_id"]).collect();
    assert_eq!(
        managers,
        [
            &Value::Null,
            &reference("users", 0, "id"),
            &reference("users", 1, "id")
        ]
    );
    let moods: Vec<&Value> = users.rows.iter().map(|r| &r["mood"]).collect();
    assert_eq!(
        moods,
        [
            &Value::Text("happy".into()),
            &Value::Text("sad".into()),
            &Value::Text("happy".into())
        ]
    );
    assert_eq!(users.returning, ["id"]);
    assert!(table(&plan, "comments").returning.is_empty());
}

#[test]
fn unique_values_stay_distinct_and_fit() {
    let plan = plan(&blog(), 12, &no_user_rows());
    let slugs: BTreeSet<String> = table(&plan, "orgs")
        .rows
        .iter()
        .chain(table(&plan, "orgs").retry_rows.iter().flatten())
        .map(|r| match &r["slug"] {
            Value::Text(s) => {
                assert!(s.chars().count() <= 5, "{s} longer than varchar(5)");
                s.clone()
            }
            other => panic!("slug {other:?}"),
        })
        .collect();
    assert_eq!(slugs.len(), 24, "primary and retry rows all distinct");
}

#[test]
fn user_rows_come_first_count_as_parents_and_stay_unique() {
    let snap = snapshot(
        Engine::Postgres,
        vec![
            (
                "codes",
                T::new()
                    .col("id", "integer", false)
                    .pk(&["id"])
                    .col("label", "text", false)
                    .col("note", "text", true)
                    .unique(&["label"]),
            ),
            (
                "uses",
                serial()
                    .col("code_id", "integer", false)
                    .fk(&["code_id"], "codes", &["id"]),
            ),
        ],
    );
    let mut user = UserRows::new();
    user.insert(
        "codes".into(),
        vec![
            json!({"id": 1, "label": "label_3"})
                .as_object()
                .cloned()
                .unwrap(),
            json!({"id": 2}).as_object().cloned().unwrap(),
        ],
    );
    let plan = plan(&snap, 3, &user);
    let codes = table(&plan, "codes");
    assert_eq!((codes.rows.len(), codes.user_rows), (5, 2));
    assert_eq!(codes.rows[0]["id"], Value::Int(1));
    assert_eq!(codes.rows[0]["label"], Value::Text("label_3".into()));
    assert!(
        !codes.rows[0].contains_key("note"),
        "user rows are not padded"
    );
    assert!(
        codes.rows[1].contains_key("label"),
        "missing NOT NULL filled in"
    );
    assert_eq!(codes.retry_rows[0], None);
    let ids: BTreeSet<String> = codes
        .rows
        .iter()
        .map(|r| format!("{:?}", r["id"]))
        .collect();
    let labels: BTreeSet<String> = codes
        .rows
        .iter()
        .map(|r| format!("{:?}", r["label"]))
        .collect();
    assert_eq!((ids.len(), labels.len()), (5, 5));
    // 5 parent rows: the user's count.
    let uses = table(&plan, "uses");
    assert_eq!(uses.rows[0]["code_id"], reference("codes", 0, "id"));
    assert_eq!(uses.rows[2]["code_id"], reference("codes", 2, "id"));
    assert!(codes.returning.is_empty(), "ids are all given");

    // Rows for a table the snapshot lacks are kept, last, for the database to refuse.
    let mut user = UserRows::new();
    user.insert(
        "nope".into(),
        vec![json!({"a": 1}).as_object().cloned().unwrap()],
    );
    let plan = super::plan(&snap, 1, &user);
    assert_eq!(plan.tables.last().map(|t| t.table.as_str()), Some("nope"));
}

#[test]
fn not_null_defaults_and_retry_rows() {
    let snap = snapshot(
        Engine::Postgres,
        vec![(
            "t",
            serial()
                .col("a", "integer", false)
                .col("b", "text", false)
                .default("b", "'x'")
                .col("c", "text", true)
                .col("d", "timestamp with time zone", false)
                .default("d", "now()")
                .col("e", "some_domain", true),
        )],
    );
    let plan = plan(&snap, 3, &no_user_rows());
    let t = table(&plan, "t");
    for row in &t.rows {
        assert!(!row.contains_key("id"));
        assert!(matches!(row["a"], Value::Int(_)));
        assert!(
            matches!(row["c"], Value::Text(_)),
            "nullable columns get values"
        );
        assert_eq!(row["e"], Value::Null, "unknown nullable type: NULL");
    }
    // Defaults: given in even rows, left to the database in odd rows.
    assert!(t.rows[0].contains_key("b") && t.rows[0].contains_key("d"));
    assert!(!t.rows[1].contains_key("b") && !t.rows[1].contains_key("d"));
    assert!(t.rows[2].contains_key("b"));
    // Retry rows: required columns only.
    let retry = t.retry_rows[0].as_ref().expect("retry row");
    assert_eq!(
        retry.keys().map(String::as_str).collect::<Vec<_>>(),
        ["a", "c", "e"]
    );
    assert_eq!(retry["c"], Value::Null);
    assert_ne!(retry["a"], t.rows[0]["a"]);
}

#[test]
fn checks_and_enums_are_respected() {
    let snap = snapshot(
        Engine::Mysql,
        vec![(
            "p",
            T::new()
                .col("id", "int(11)", false)
                .extra("id", "auto_increment")
                .pk(&["id"])
                .col("kind", "enum('a','b')", false)
                .col("status", "varchar(10)", false)
                .col("price", "decimal(5,2)", false)
                .col("qty", "smallint(6)", true)
                .col("starts_on", "date", false)
                .col("ends_on", "date", false)
                .col("flag", "tinyint(1)", false)
                .check("(`status` in ('draft','live'))")
                .check("(`price` >= 0)")
                .check("(`qty` between 7 and 8)")
                .check("(`ends_on` > `starts_on`)"),
        )],
    );
    let plan = plan(&snap, 3, &no_user_rows());
    let p = table(&plan, "p");
    let column = |c: &str| p.rows.iter().map(|r| r[c].clone()).collect::<Vec<_>>();
    let text = |s: &str| Value::Text(s.into());
    assert_eq!(column("kind"), [text("a"), text("b"), text("a")]);
    assert_eq!(
        column("status"),
        [text("draft"), text("live"), text("draft")]
    );
    assert_eq!(
        column("price"),
        [
            Value::Decimal("1.50".into()),
            Value::Decimal("2.50".into()),
            Value::Decimal("3.50".into())
        ]
    );
    assert_eq!(column("qty"), [Value::Int(7), Value::Int(8), Value::Int(7)]);
    assert_eq!(
        column("flag"),
        [Value::Bool(true), Value::Bool(false), Value::Bool(true)]
    );
    for row in &p.rows {
        let (Value::Text(a), Value::Text(b)) = (&row["starts_on"], &row["ends_on"]) else {
            panic!("dates")
        };
        assert!(b > a, "{b} > {a}");
    }
}

#[test]
fn composite_keys_and_association_tables() {
    let snap = snapshot(
        Engine::Sqlite,
        vec![
            (
                "parent",
                T::new()
                    .col("a", "integer", false)
                    .col("b", "varchar(3)", false)
                    .pk(&["a", "b"]),
            ),
            (
                "child",
                T::new()
                    .col("x", "integer", false)
                    .col("y", "varchar(3)", false)
                    .fk(&["x", "y"], "parent", &["a", "b"]),
            ),
            ("posts", T::new().col("id", "integer", false).pk(&["id"])),
            ("tags", T::new().col("id", "integer", false).pk(&["id"])),
            (
                "post_tags",
                T::new()
                    .col("post_id", "integer", false)
                    .col("tag_id", "integer", false)
                    .pk(&["post_id", "tag_id"])
                    .fk(&["post_id"], "posts", &["id"])
                    .fk(&["tag_id"], "tags", &["id"]),
            ),
        ],
    );
    let plan = plan(&snap, 3, &no_user_rows());
    // The composite key is not a rowid: values are given, and are distinct.
    let parent = table(&plan, "parent");
    assert!(parent.rows.iter().all(|r| r.contains_key("a")));
    for (j, row) in table(&plan, "child").rows.iter().enumerate() {
        assert_eq!(row["x"], reference("parent", j, "a"));
        assert_eq!(row["y"], reference("parent", j, "b"), "same parent row");
    }
    // SQLite INTEGER PRIMARY KEY is a rowid: never given, read back.
    assert!(table(&plan, "posts").rows.iter().all(|r| r.is_empty()));
    assert_eq!(table(&plan, "posts").returning, ["id"]);
    let pairs: BTreeSet<String> = table(&plan, "post_tags")
        .rows
        .iter()
        .map(|r| format!("{:?}", (&r["post_id"], &r["tag_id"])))
        .collect();
    assert_eq!(pairs.len(), 3);

    // More child rows than parent rows: other combinations of parents are tried.
    let mut user = UserRows::new();
    user.insert("post_tags".into(), vec![serde_json::Map::new(); 3]);
    let plan = super::plan(&snap, 3, &user);
    let pairs: BTreeSet<String> = table(&plan, "post_tags")
        .rows
        .iter()
        .map(|r| format!("{:?}", (&r["post_id"], &r["tag_id"])))
        .collect();
    assert_eq!(pairs.len(), 6);
}

#[test]
fn cycles_are_broken_at_a_nullable_key() {
    let snap = snapshot(
        Engine::Postgres,
        vec![
            (
                "departments",
                serial()
                    .col("head_id", "integer", true)
                    .fk(&["head_id"], "employees", &["id"]),
            ),
            (
                "employees",
                serial().col("department_id", "integer", false).fk(
                    &["department_id"],
                    "departments",
                    &["id"],
                ),
            ),
            (
                "x",
                serial()
                    .col("y_id", "integer", false)
                    .fk(&["y_id"], "y", &["id"]),
            ),
            (
                "y",
                serial()
                    .col("x_id", "integer", false)
                    .fk(&["x_id"], "x", &["id"]),
            ),
        ],
    );
    let plan = plan(&snap, 2, &no_user_rows());
    assert!(position(&plan, "departments") < position(&plan, "employees"));
    let departments = table(&plan, "departments");
    assert!(departments.rows.iter().all(|r| r["head_id"] == Value::Null));
    assert_eq!(plan.links.len(), 2);
    assert_eq!(
        (
            plan.links[1].table.as_str(),
            plan.links[1].row,
            plan.links[1].parent_table.as_str(),
            plan.links[1].parent_row
        ),
        ("departments", 1, "employees", 1)
    );
    // A cycle through NOT NULL columns still plans every table; one side refers ahead.
    assert!(position(&plan, "x") < position(&plan, "y"));
    assert_eq!(table(&plan, "x").rows[0]["y_id"], reference("y", 0, "id"));
}

#[test]
fn plans_are_deterministic_and_serialise() {
    let a = serde_json::to_string(&plan(&blog(), 3, &no_user_rows())).unwrap();
    let b = serde_json::to_string(&plan(&blog(), 3, &no_user_rows())).unwrap();
    assert_eq!(a, b);
    let value: serde_json::Value = serde_json::from_str(&a).unwrap();
    let users = value["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "users")
        .unwrap();
    assert_eq!(
        users["rows"][1]["manager_id"],
        json!({"$ref": {"table": "users", "row": 0, "column": "id"}})
    );
    assert_eq!(
        serde_json::to_value(Value::Bytes(vec![1, 255])).unwrap(),
        json!("\\x01ff")
    );
}

#[test]
fn report_reads_well() {
    let mut report = super::SeedReport::default();
    report.inserted.insert("a".into(), 3);
    report.inserted.insert("b".into(), 0);
    report.skipped.push(super::SkippedRow {
        table: "b".into(),
        row: 0,
        reason: "violates check constraint".into(),
    });
    assert_eq!(
        report.to_string(),
        "seeded 3 rows into 1 tables (1 left empty); skipped 1 rows:\n  b row 0: violates check constraint"
    );
}

/// DDL for `n` tables chained by foreign keys, each with a generated key, a unique code, a
/// default, a check, a timestamp and an index.
fn chain_sql(engine: Engine, n: usize) -> Vec<String> {
    let mut statements = Vec::new();
    for i in 0..n {
        let id = match engine {
            Engine::Postgres => "id serial PRIMARY KEY",
            Engine::Mysql => "id INT AUTO_INCREMENT PRIMARY KEY",
            Engine::Sqlite => "id INTEGER PRIMARY KEY",
        };
        let parent = if i == 0 {
            String::new()
        } else {
            format!(
                ", parent_id INT NOT NULL, FOREIGN KEY (parent_id) REFERENCES t{:03}(id) ON DELETE CASCADE",
                i - 1
            )
        };
        statements.push(format!(
            "CREATE TABLE t{i:03} ({id}, code VARCHAR(20) NOT NULL UNIQUE, \
             name VARCHAR(100) DEFAULT 'x', amount NUMERIC(10, 2) CHECK (amount >= 0), \
             created_at TIMESTAMP NULL{parent})"
        ));
        statements.push(format!(
            "CREATE INDEX ix_t{i:03}_name ON t{i:03} (name, created_at)"
        ));
    }
    statements
}

/// Min / median / max of timings, printed (for the ignored `measure_*` tests; no test
/// asserts a time).
fn report_timing(engine: &str, times: &mut [std::time::Duration]) {
    times.sort();
    let median = times[times.len() / 2];
    eprintln!(
        "{engine}: seeding 50 tables x 3 rows: min {:?}, median {median:?}, max {:?} ({} runs)",
        times[0],
        times[times.len() - 1],
        times.len()
    );
}

/// Row counts of the plan's tables as the report gives them.
fn expected_counts(plan: &SeedPlan) -> BTreeMap<String, usize> {
    plan.tables
        .iter()
        .map(|t| (t.table.clone(), t.rows.len()))
        .collect()
}

#[test]
fn seeding_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let snap = SchemaSnapshot::new(Engine::Sqlite);
    let user = UserRows::new();
    let future = super::seed_url("sqlite::memory:", &snap, 1, &user);
    assert_send(&future);
}
