use sqlx::{AssertSqlSafe, SqliteConnection};

use super::support::{SqliteFile, memory_sqlite};
use crate::schema::{
    DEFAULT_IGNORE, PrimaryKey, TableChangeKind, compare, diff, fingerprint_sqlite,
    fingerprint_url, snapshot_sqlite, snapshot_url,
};

const USERS: &str = "CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    email VARCHAR(255) NOT NULL,
    nickname TEXT,
    status VARCHAR(10) NOT NULL DEFAULT 'a',
    mood VARCHAR(5) CHECK (mood IN ('happy', 'sad')),
    age INTEGER CHECK (age >= 0),
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT uq_users_org_email UNIQUE (org_id, email)
)";

const USERS_INDEXES: &[&str] = &[
    "CREATE INDEX ix_users_created ON users (created_at)",
    "CREATE INDEX ix_users_org_status ON users (org_id, status DESC)",
    "CREATE UNIQUE INDEX ix_users_lower_email ON users (lower(email)) WHERE status <> 'x'",
];

const PRODUCTS: &str = "CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    sku TEXT NOT NULL,
    price NUMERIC(10, 2) NOT NULL,
    stock INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT ck_price_positive CHECK (price > 0)
)";

const ORDERS: &str = "CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users ON DELETE CASCADE,
    product_id INTEGER REFERENCES products(id) ON DELETE SET NULL,
    coupon_id INTEGER,
    quantity INTEGER NOT NULL DEFAULT 1
)";

fn schema_sql() -> String {
    let mut sql = vec![
        "CREATE TABLE orgs (id INTEGER PRIMARY KEY AUTOINCREMENT, slug VARCHAR(50) NOT NULL UNIQUE, name TEXT NOT NULL)".to_owned(),
        USERS.to_owned(),
    ];
    sql.extend(USERS_INDEXES.iter().map(|s| s.to_string()));
    sql.extend([
        PRODUCTS.to_owned(),
        "CREATE TABLE coupons (id INTEGER PRIMARY KEY, code TEXT NOT NULL UNIQUE)".to_owned(),
        ORDERS.to_owned(),
        "CREATE VIEW active_users AS SELECT id, email FROM users WHERE status = 'a'".to_owned(),
        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)".to_owned(),
    ]);
    sql.join(";\n")
}

async fn exec(conn: &mut SqliteConnection, sql: &str) {
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// What Alembic's batch mode does for changes SQLite's ALTER TABLE cannot make: copy into a
/// table with the new definition, drop the old one, rename, recreate the indexes.
async fn rebuild(conn: &mut SqliteConnection, table: &str, create: &str, indexes: &[&str]) {
    let tmp = format!("_alembic_tmp_{table}");
    let create_tmp = create.replacen(
        &format!("CREATE TABLE {table} "),
        &format!("CREATE TABLE {tmp} "),
        1,
    );
    let mut sql = vec![
        "PRAGMA foreign_keys = OFF".to_owned(),
        "PRAGMA legacy_alter_table = ON".to_owned(),
        create_tmp,
        format!("INSERT INTO {tmp} SELECT * FROM {table}"),
        format!("DROP TABLE {table}"),
        format!("ALTER TABLE {tmp} RENAME TO {table}"),
    ];
    sql.extend(indexes.iter().map(|s| s.to_string()));
    sql.push("PRAGMA legacy_alter_table = OFF".to_owned());
    sql.push("PRAGMA foreign_keys = ON".to_owned());
    exec(conn, &sql.join(";\n")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn realistic_schema_is_captured() {
    let mut conn = memory_sqlite().await;
    exec(&mut conn, &schema_sql()).await;
    let snap = snapshot_sqlite(&mut conn, DEFAULT_IGNORE).await.unwrap();

    assert_eq!(
        snap.tables.keys().collect::<Vec<_>>(),
        ["coupons", "orders", "orgs", "products", "users"]
    );
    let users = &snap.tables["users"];
    let status = &users.columns["status"];
    assert_eq!(
        (
            status.data_type.as_str(),
            status.nullable,
            status.default.as_deref()
        ),
        ("varchar(10)", false, Some("'a'"))
    );
    assert!(users.columns["nickname"].nullable);
    assert_eq!(
        users.primary_key,
        Some(PrimaryKey {
            name: None,
            columns: vec!["id".into()]
        })
    );
    assert_eq!(
        snap.tables["orgs"].columns["id"].extra.as_deref(),
        Some("autoincrement")
    );
    assert!(users.unique_constraints.contains_key("(org_id, email)"));
    assert!(
        snap.tables["coupons"]
            .unique_constraints
            .contains_key("(code)")
    );
    let fk = &users.foreign_keys["(org_id) -> orgs(id)"];
    assert_eq!(fk.on_delete, "CASCADE");
    // `REFERENCES users` without columns points at the primary key.
    assert!(
        snap.tables["orders"]
            .foreign_keys
            .contains_key("(user_id) -> users(id)")
    );
    assert_eq!(
        users.check_constraints.keys().collect::<Vec<_>>(),
        ["(age >= 0)", "(mood IN ('happy', 'sad'))"]
    );
    assert_eq!(
        snap.tables["products"].check_constraints["ck_price_positive"].expression,
        "(price > 0)"
    );
    let lower = &users.indexes["ix_users_lower_email"];
    assert!(lower.unique);
    assert_eq!(lower.columns, ["lower(email)"]);
    assert_eq!(lower.predicate.as_deref(), Some("status <> 'x'"));
    assert_eq!(
        users.indexes["ix_users_org_status"].columns,
        ["org_id", "status DESC"]
    );
    assert_eq!(
        snap.views["active_users"],
        "CREATE VIEW active_users AS SELECT id, email FROM users WHERE status = 'a'"
    );
    assert!(snap.sequences.is_empty() && snap.enums.is_empty());

    let with_version = snapshot_sqlite(&mut conn, &[]).await.unwrap();
    assert!(with_version.tables.contains_key("alembic_version"));
}

#[tokio::test(flavor = "multi_thread")]
async fn each_change_reads_as_exactly_its_lines() {
    let mut conn = memory_sqlite().await;
    exec(&mut conn, &schema_sql()).await;
    let users = USERS.to_owned();

    let nullable = users.replace("nickname TEXT,", "nickname TEXT NOT NULL,");
    let default_b = nullable.replace("DEFAULT 'a'", "DEFAULT 'b'");
    let meh = default_b.replace("('happy', 'sad')", "('happy', 'sad', 'meh')");
    let steps: Vec<(&str, Vec<&str>)> = vec![
        ("add column", vec!["+ users.legacy_flag boolean"]),
        (
            "nullability",
            vec!["~ users.nickname: nullable -> NOT NULL"],
        ),
        ("default", vec!["~ users.status: default 'a' -> 'b'"]),
        (
            "drop index",
            vec!["- index ix_users_created on users (created_at)"],
        ),
        ("add fk", vec!["+ fk orders(coupon_id) -> coupons(id)"]),
        (
            "enum value",
            vec![
                "- check on users (mood IN ('happy', 'sad'))",
                "+ check on users (mood IN ('happy', 'sad', 'meh'))",
            ],
        ),
        ("view", vec!["~ view active_users: definition changed"]),
        (
            "add check",
            vec!["+ check ck_stock on products (stock >= 0)"],
        ),
    ];
    // Column definitions must precede table constraints, so the rebuilt table has the column
    // at another position than ADD COLUMN gave it; ordinals are not compared.
    let with_flag = |sql: &str| {
        sql.replace(
            "CURRENT_TIMESTAMP,\n",
            "CURRENT_TIMESTAMP,\n    legacy_flag BOOLEAN,\n",
        )
    };
    for (step, expected) in steps {
        let before = snapshot_sqlite(&mut conn, DEFAULT_IGNORE).await.unwrap();
        match step {
            "add column" => exec(&mut conn, "ALTER TABLE users ADD COLUMN legacy_flag BOOLEAN").await,
            "nullability" => rebuild(&mut conn, "users", &with_flag(&nullable), USERS_INDEXES).await,
            "default" => rebuild(&mut conn, "users", &with_flag(&default_b), USERS_INDEXES).await,
            "drop index" => exec(&mut conn, "DROP INDEX ix_users_created").await,
            "add fk" => {
                let orders = ORDERS.replace("coupon_id INTEGER,", "coupon_id INTEGER REFERENCES coupons(id),");
                rebuild(&mut conn, "orders", &orders, &[]).await
            }
            "enum value" => rebuild(&mut conn, "users", &with_flag(&meh), &USERS_INDEXES[1..]).await,
            "view" => {
                exec(
                    &mut conn,
                    "DROP VIEW active_users; CREATE VIEW active_users AS SELECT id, email, status FROM users WHERE status = 'a'",
                )
                .await
            }
            "add check" => {
                let products = PRODUCTS.replace(
                    "CHECK (price > 0)",
                    "CHECK (price > 0),\n    CONSTRAINT ck_stock CHECK (stock >= 0)",
                );
                rebuild(&mut conn, "products", &products, &[]).await
            }
            _ => unreachable!(),
        }
        let after = snapshot_sqlite(&mut conn, DEFAULT_IGNORE).await.unwrap();
        let d = diff(&before, &after);
        assert_eq!(d.lines(), expected, "step {step}");
        assert!(diff(&after, &after).is_empty());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn same_schema_twice_and_in_two_databases_has_no_diff() {
    let mut a = memory_sqlite().await;
    let mut b = memory_sqlite().await;
    exec(&mut a, &schema_sql()).await;
    exec(&mut b, &schema_sql()).await;
    let first = snapshot_sqlite(&mut a, DEFAULT_IGNORE).await.unwrap();
    let second = snapshot_sqlite(&mut a, DEFAULT_IGNORE).await.unwrap();
    assert!(diff(&first, &second).is_empty());
    let other = snapshot_sqlite(&mut b, DEFAULT_IGNORE).await.unwrap();
    let d = diff(&first, &other);
    assert!(d.is_empty(), "{d}");
    // A batch-mode rebuild that changes nothing must not show up either (quoted table name in
    // the rewritten DDL, recreated autoindexes).
    rebuild(&mut b, "users", USERS, USERS_INDEXES).await;
    let rebuilt = snapshot_sqlite(&mut b, DEFAULT_IGNORE).await.unwrap();
    let d = diff(&first, &rebuilt);
    assert!(d.is_empty(), "{d}");
}

#[tokio::test(flavor = "multi_thread")]
async fn fingerprints_are_order_independent_and_multiset_aware() {
    let mut conn = memory_sqlite().await;
    exec(
        &mut conn,
        "CREATE TABLE items (id INTEGER, name TEXT, price REAL);
         CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY);
         INSERT INTO alembic_version VALUES ('abc');
         INSERT INTO items VALUES (1, 'a', 1.5), (2, NULL, 2.0), (3, '', NULL);",
    )
    .await;
    let original = fingerprint_sqlite(&mut conn, DEFAULT_IGNORE).await.unwrap();
    assert_eq!(original.keys().collect::<Vec<_>>(), ["items"]);
    assert_eq!(original["items"].rows, 3);

    exec(
        &mut conn,
        "DELETE FROM items; INSERT INTO items VALUES (3, '', NULL), (1, 'a', 1.5), (2, NULL, 2.0);",
    )
    .await;
    let reordered = fingerprint_sqlite(&mut conn, DEFAULT_IGNORE).await.unwrap();
    assert_eq!(reordered, original);

    exec(&mut conn, "INSERT INTO items VALUES (1, 'a', 1.5)").await;
    let duplicated = fingerprint_sqlite(&mut conn, DEFAULT_IGNORE).await.unwrap();
    assert_eq!(duplicated["items"].rows, 4);
    assert_ne!(duplicated["items"].digest, original["items"].digest);
    assert_eq!(
        compare(&original, &duplicated)[0].to_string(),
        "items: 3 -> 4 rows"
    );

    exec(
        &mut conn,
        "DELETE FROM items WHERE rowid = (SELECT max(rowid) FROM items)",
    )
    .await;
    assert_eq!(
        fingerprint_sqlite(&mut conn, DEFAULT_IGNORE).await.unwrap(),
        original
    );

    // NULL, '' and 'NULL' must all hash differently.
    for value in ["''", "'NULL'", "'x'"] {
        exec(
            &mut conn,
            &format!("UPDATE items SET name = {value} WHERE id = 2"),
        )
        .await;
        let updated = fingerprint_sqlite(&mut conn, DEFAULT_IGNORE).await.unwrap();
        let changes = compare(&original, &updated);
        assert_eq!(changes.len(), 1, "{value}");
        assert_eq!(changes[0].kind, TableChangeKind::Contents);
        assert_eq!(changes[0].to_string(), "items: 3 rows, contents changed");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fingerprint_pages_through_large_tables() {
    let mut conn = memory_sqlite().await;
    exec(
        &mut conn,
        "CREATE TABLE big (n INTEGER);
         WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 12345)
         INSERT INTO big SELECT n FROM s;
         CREATE TABLE big_reversed (n INTEGER);
         INSERT INTO big_reversed SELECT n FROM big ORDER BY n DESC;
         CREATE TABLE nr (k TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID;
         INSERT INTO nr VALUES ('a', 1), ('b', 2);
         CREATE TABLE edge (n INTEGER);
         INSERT INTO edge (rowid, n) VALUES (-9223372036854775808, 1), (0, 2);",
    )
    .await;
    let fp = fingerprint_sqlite(&mut conn, &[]).await.unwrap();
    assert_eq!(fp["big"].rows, 12345);
    assert_eq!(fp["big"], fp["big_reversed"]);
    assert_eq!(fp["nr"].rows, 2);
    assert_eq!(fp["edge"].rows, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn url_entry_points() {
    let file = SqliteFile::new();
    let mut conn = file.connect().await;
    exec(&mut conn, &schema_sql()).await;
    exec(&mut conn, "INSERT INTO alembic_version VALUES ('abc'); INSERT INTO orgs (slug, name) VALUES ('x', 'X')").await;
    let direct = snapshot_sqlite(&mut conn, DEFAULT_IGNORE).await.unwrap();
    let by_url = snapshot_url(&file.url, DEFAULT_IGNORE).await.unwrap();
    assert_eq!(direct, by_url);
    let fp = fingerprint_url(&file.url, DEFAULT_IGNORE).await.unwrap();
    assert_eq!(fp["orgs"].rows, 1);
    assert!(!fp.contains_key("alembic_version"));
    let err = snapshot_url("sqlite:///nonexistent/dir/x.db", &[])
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("while connecting to sqlite:///nonexistent"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hundred_tables_snapshot_completely() {
    let mut conn = memory_sqlite().await;
    exec(
        &mut conn,
        &super::hundred_tables_sql(crate::engine::Engine::Sqlite),
    )
    .await;
    // How long this takes is measured by `measure_hundred_tables_snapshot` (bench/core.sh).
    let snap = snapshot_sqlite(&mut conn, &[]).await.unwrap();
    assert_eq!(snap.tables.len(), 100);
    for i in 1..100 {
        let table = &snap.tables[&format!("t{i:03}")];
        assert_eq!(table.foreign_keys.len(), 1, "t{i:03}");
        assert_eq!(table.indexes.len(), 1, "t{i:03}");
    }
}

/// The snapshot of 100 tables, timed: `bench/core.sh` (or
/// `cargo test --lib measure_hundred_tables_snapshot -- --ignored --nocapture`).
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn measure_hundred_tables_snapshot() {
    let mut conn = memory_sqlite().await;
    exec(
        &mut conn,
        &super::hundred_tables_sql(crate::engine::Engine::Sqlite),
    )
    .await;
    let mut times = Vec::new();
    for _ in 0..super::TIMING_RUNS {
        let start = std::time::Instant::now();
        let snap = snapshot_sqlite(&mut conn, &[]).await.unwrap();
        times.push(start.elapsed());
        assert_eq!(snap.tables.len(), 100);
    }
    super::report_timing("sqlite", &mut times);
}

#[tokio::test]
async fn contents_read_every_value_as_text() {
    let mut conn = memory_sqlite().await;
    exec(
        &mut conn,
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL, raw BLOB);
         CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY);
         INSERT INTO items VALUES (1, 'a', 1.5, X'01FF'), (2, NULL, NULL, NULL), (3, '', 2, NULL);",
    )
    .await;
    let contents = crate::schema::contents_sqlite(&mut conn, DEFAULT_IGNORE, 10)
        .await
        .unwrap();
    assert_eq!(contents.keys().collect::<Vec<_>>(), ["items"]);
    let text = |s: &str| Some(s.to_owned());
    let items = &contents["items"];
    assert_eq!(
        items.rows[0],
        [text("1"), text("a"), text("1.5"), text("01FF")]
    );
    assert_eq!(items.rows[1], [text("2"), None, None, None]);
    assert_eq!(items.rows[2], [text("3"), text(""), text("2.0"), None]);
    let capped = crate::schema::contents_sqlite(&mut conn, DEFAULT_IGNORE, 1)
        .await
        .unwrap();
    assert!(!capped["items"].complete);
}
