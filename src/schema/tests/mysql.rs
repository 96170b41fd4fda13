use sqlx::{AssertSqlSafe, MySqlConnection};

use super::support::TestDb;
use crate::schema::{
    DEFAULT_IGNORE, PrimaryKey, TableChangeKind, compare, diff, fingerprint_mysql, fingerprint_url,
    snapshot_mysql, snapshot_url,
};

const SCHEMA: &str = "
CREATE TABLE orgs (
    id INT AUTO_INCREMENT PRIMARY KEY,
    slug VARCHAR(50) NOT NULL UNIQUE,
    name VARCHAR(100) NOT NULL
);
CREATE TABLE users (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    org_id INT NOT NULL,
    email VARCHAR(255) NOT NULL,
    nickname VARCHAR(50),
    status VARCHAR(10) NOT NULL DEFAULT 'a',
    mood ENUM('happy', 'sad'),
    age INT CHECK (age >= 0),
    settings JSON,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT uq_users_org_email UNIQUE (org_id, email),
    FOREIGN KEY (org_id) REFERENCES orgs(id) ON DELETE CASCADE
);
CREATE INDEX ix_users_created ON users (created_at);
CREATE INDEX ix_users_org_status ON users (org_id, status);
CREATE UNIQUE INDEX ix_users_email_prefix ON users (email(20));
CREATE TABLE products (
    id INT AUTO_INCREMENT PRIMARY KEY,
    sku VARCHAR(40) NOT NULL,
    price DECIMAL(10, 2) NOT NULL,
    stock INT NOT NULL DEFAULT 0,
    CONSTRAINT ck_price_positive CHECK (price > 0)
);
CREATE TABLE coupons (id INT AUTO_INCREMENT PRIMARY KEY, code VARCHAR(20) NOT NULL UNIQUE);
CREATE TABLE orders (
    id INT AUTO_INCREMENT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    product_id INT NULL,
    coupon_id INT NULL,
    quantity INT NOT NULL DEFAULT 1,
    FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE,
    CONSTRAINT fk_orders_product FOREIGN KEY (product_id) REFERENCES products(id)
        ON DELETE SET NULL
);
CREATE VIEW active_users AS SELECT id, email FROM users WHERE status = 'a';
CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY);
";

async fn exec(conn: &mut MySqlConnection, sql: &str) {
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn realistic_schema_is_captured() {
    let Some(db) = TestDb::mysql().await else {
        return;
    };
    let mut conn = db.my().await;
    exec(&mut conn, SCHEMA).await;
    let snap = snapshot_mysql(&mut conn, &db.name, DEFAULT_IGNORE)
        .await
        .unwrap();

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
    assert_eq!(users.columns["mood"].data_type, "enum('happy','sad')");
    assert_eq!(users.columns["mood"].default, None);
    assert_eq!(users.columns["id"].extra.as_deref(), Some("auto_increment"));
    assert_eq!(
        users.primary_key,
        Some(PrimaryKey {
            name: None,
            columns: vec!["id".into()]
        })
    );
    assert_eq!(
        users.unique_constraints["(org_id, email)"].name.as_deref(),
        Some("uq_users_org_email")
    );
    assert_eq!(
        users.unique_constraints["(email(20))"].name.as_deref(),
        Some("ix_users_email_prefix")
    );
    assert_eq!(snap.tables["orgs"].unique_constraints["(slug)"].name, None);
    let fk = &users.foreign_keys["(org_id) -> orgs(id)"];
    assert_eq!(
        (fk.name.as_deref(), fk.on_delete.as_str()),
        (None, "CASCADE")
    );
    let orders = &snap.tables["orders"];
    assert_eq!(
        orders.foreign_keys["(product_id) -> products(id)"]
            .name
            .as_deref(),
        Some("fk_orders_product")
    );
    // The indexes MySQL made for the two foreign keys are part of them, not indexes.
    assert!(orders.indexes.is_empty(), "{:?}", orders.indexes);
    assert_eq!(
        users.indexes.keys().collect::<Vec<_>>(),
        ["ix_users_created", "ix_users_org_status"]
    );
    assert_eq!(
        users.indexes["ix_users_org_status"].columns,
        ["org_id", "status"]
    );
    assert!(users.check_constraints.contains_key("(`age` >= 0)"));
    assert_eq!(
        snap.tables["products"].check_constraints["ck_price_positive"].expression,
        "(`price` > 0)"
    );
    assert!(!snap.views["active_users"].contains(&db.name));
    assert!(snap.sequences.is_empty() && snap.enums.is_empty());

    let with_version = snapshot_mysql(&mut conn, &db.name, &[]).await.unwrap();
    assert!(with_version.tables.contains_key("alembic_version"));
}

#[tokio::test(flavor = "multi_thread")]
async fn each_change_reads_as_exactly_its_lines() {
    let Some(db) = TestDb::mysql().await else {
        return;
    };
    let mut conn = db.my().await;
    exec(&mut conn, SCHEMA).await;
    let steps: &[(&str, &[&str])] = &[
        (
            "ALTER TABLE users ADD COLUMN legacy_flag BOOLEAN",
            &["+ users.legacy_flag tinyint(1)"],
        ),
        (
            "ALTER TABLE users MODIFY nickname VARCHAR(50) NOT NULL",
            &["~ users.nickname: nullable -> NOT NULL"],
        ),
        (
            "ALTER TABLE users ALTER COLUMN status SET DEFAULT 'b'",
            &["~ users.status: default 'a' -> 'b'"],
        ),
        (
            "DROP INDEX ix_users_created ON users",
            &["- index ix_users_created on users (created_at)"],
        ),
        (
            "ALTER TABLE orders ADD CONSTRAINT fk_orders_coupon FOREIGN KEY (coupon_id) \
             REFERENCES coupons(id)",
            &["+ fk fk_orders_coupon orders(coupon_id) -> coupons(id)"],
        ),
        (
            "ALTER TABLE users MODIFY mood ENUM('happy', 'sad', 'meh')",
            &["~ users.mood: type enum('happy','sad') -> enum('happy','sad','meh')"],
        ),
        (
            "CREATE OR REPLACE VIEW active_users AS \
             SELECT id, email, status FROM users WHERE status = 'a'",
            &["~ view active_users: definition changed"],
        ),
        (
            "ALTER TABLE products ADD CONSTRAINT ck_stock CHECK (stock >= 0)",
            &["+ check ck_stock on products (`stock` >= 0)"],
        ),
        (
            "ALTER TABLE orders ADD CHECK (quantity > 0)",
            &["+ check on orders (`quantity` > 0)"],
        ),
        // Dropping a foreign key leaves MySQL's implicit index behind: a real difference,
        // shown under the constraint's name.
        (
            "ALTER TABLE orders DROP FOREIGN KEY fk_orders_product",
            &[
                "- fk fk_orders_product orders(product_id) -> products(id) on delete SET NULL",
                "+ index fk_orders_product on orders (product_id)",
            ],
        ),
        (
            "ALTER TABLE orders ADD INDEX (quantity)",
            &["+ index on orders (quantity)"],
        ),
    ];
    for (ddl, expected) in steps {
        let before = snapshot_mysql(&mut conn, &db.name, DEFAULT_IGNORE)
            .await
            .unwrap();
        exec(&mut conn, ddl).await;
        let after = snapshot_mysql(&mut conn, &db.name, DEFAULT_IGNORE)
            .await
            .unwrap();
        assert_eq!(diff(&before, &after).lines(), *expected, "after {ddl}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn same_schema_twice_and_in_two_databases_has_no_diff() {
    let (Some(a), Some(b)) = (TestDb::mysql().await, TestDb::mysql().await) else {
        return;
    };
    let (mut ca, mut cb) = (a.my().await, b.my().await);
    exec(&mut ca, SCHEMA).await;
    exec(&mut cb, SCHEMA).await;
    let first = snapshot_mysql(&mut ca, &a.name, DEFAULT_IGNORE)
        .await
        .unwrap();
    let second = snapshot_mysql(&mut ca, &a.name, DEFAULT_IGNORE)
        .await
        .unwrap();
    assert!(diff(&first, &second).is_empty());
    let other = snapshot_mysql(&mut cb, &b.name, DEFAULT_IGNORE)
        .await
        .unwrap();
    let d = diff(&first, &other);
    assert!(d.is_empty(), "{d}");
}

#[tokio::test(flavor = "multi_thread")]
async fn upgrade_then_downgrade_round_trips() {
    let Some(db) = TestDb::mysql().await else {
        return;
    };
    let mut conn = db.my().await;
    exec(&mut conn, SCHEMA).await;
    let base = snapshot_mysql(&mut conn, &db.name, DEFAULT_IGNORE)
        .await
        .unwrap();
    // Unnamed constraints get a new `_ibfk_N` / `_chk_N` / `CONSTRAINT_N` number when they
    // are recreated after others were added.
    exec(
        &mut conn,
        "ALTER TABLE orders ADD COLUMN note_id INT, ADD FOREIGN KEY (note_id) REFERENCES orgs(id);
         ALTER TABLE products ADD CHECK (stock < 1000000);",
    )
    .await;
    exec(
        &mut conn,
        "ALTER TABLE orders DROP FOREIGN KEY orders_ibfk_1;
         ALTER TABLE orders ADD FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE;",
    )
    .await;
    let upgraded = snapshot_mysql(&mut conn, &db.name, DEFAULT_IGNORE)
        .await
        .unwrap();
    assert_eq!(
        diff(&base, &upgraded).lines(),
        [
            "+ orders.note_id int(11)",
            "+ fk orders(note_id) -> orgs(id)",
            "+ check on products (`stock` < 1000000)",
        ]
    );
    exec(
        &mut conn,
        "ALTER TABLE orders DROP FOREIGN KEY orders_ibfk_2;
         ALTER TABLE orders DROP COLUMN note_id;",
    )
    .await;
    let check: String = sqlx::query_scalar(
        "SELECT CAST(CONSTRAINT_NAME AS CHAR) FROM information_schema.CHECK_CONSTRAINTS \
         WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = 'products' AND CHECK_CLAUSE LIKE '%1000000%'",
    )
    .bind(&db.name)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    exec(
        &mut conn,
        &format!("ALTER TABLE products DROP CONSTRAINT `{check}`"),
    )
    .await;
    let downgraded = snapshot_mysql(&mut conn, &db.name, DEFAULT_IGNORE)
        .await
        .unwrap();
    let d = diff(&base, &downgraded);
    assert!(d.is_empty(), "{d}");
}

#[tokio::test(flavor = "multi_thread")]
async fn fingerprints_are_order_independent_and_multiset_aware() {
    let Some(db) = TestDb::mysql().await else {
        return;
    };
    let mut conn = db.my().await;
    exec(
        &mut conn,
        "CREATE TABLE items (id INT, name VARCHAR(20), price DECIMAL(10, 2), doc JSON,
                             raw VARBINARY(8), label VARCHAR(10) CHARACTER SET latin1,
                             at TIMESTAMP NULL);
         CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY);
         INSERT INTO alembic_version VALUES ('abc');
         SET time_zone = '+00:00';
         INSERT INTO items VALUES (1, 'a', 1.5, '{\"k\": [1, 2]}', X'00FF', 'é',
                                   '2024-01-01 00:00:00'),
                                  (2, NULL, 2, NULL, NULL, NULL, NULL),
                                  (3, '', NULL, 'null', '', '', NULL);",
    )
    .await;
    let original = fingerprint_mysql(&mut conn, &db.name, DEFAULT_IGNORE)
        .await
        .unwrap();
    assert_eq!(original.keys().collect::<Vec<_>>(), ["items"]);
    assert_eq!(original["items"].rows, 3);

    // Another session time zone renders TIMESTAMPs differently; the digest must not care,
    // and the session keeps its zone.
    exec(
        &mut conn,
        "SET time_zone = '+09:00';
         DELETE FROM items;
         INSERT INTO items VALUES (3, '', NULL, 'null', '', '', NULL),
                                  (2, NULL, 2, NULL, NULL, NULL, NULL),
                                  (1, 'a', 1.5, '{\"k\": [1, 2]}', X'00FF', 'é',
                                   '2024-01-01 09:00:00');",
    )
    .await;
    let reordered = fingerprint_mysql(&mut conn, &db.name, DEFAULT_IGNORE)
        .await
        .unwrap();
    assert_eq!(reordered, original);
    let zone: String = sqlx::query_scalar("SELECT CAST(@@session.time_zone AS CHAR)")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(zone, "+09:00");
    exec(&mut conn, "SET time_zone = '+00:00'").await;

    exec(
        &mut conn,
        "INSERT INTO items VALUES (1, 'a', 1.5, '{\"k\": [1, 2]}', X'00FF', 'é',
                                   '2024-01-01 00:00:00')",
    )
    .await;
    let duplicated = fingerprint_mysql(&mut conn, &db.name, DEFAULT_IGNORE)
        .await
        .unwrap();
    assert_eq!(duplicated["items"].rows, 4);
    assert_ne!(duplicated["items"].digest, original["items"].digest);
    assert_eq!(
        compare(&original, &duplicated)[0].to_string(),
        "items: 3 -> 4 rows"
    );
    exec(&mut conn, "DELETE FROM items WHERE id = 1 LIMIT 1").await;
    assert_eq!(
        fingerprint_mysql(&mut conn, &db.name, DEFAULT_IGNORE)
            .await
            .unwrap(),
        original
    );

    for value in ["''", "'NULL'", "'x'"] {
        exec(
            &mut conn,
            &format!("UPDATE items SET name = {value} WHERE id = 2"),
        )
        .await;
        let updated = fingerprint_mysql(&mut conn, &db.name, DEFAULT_IGNORE)
            .await
            .unwrap();
        let changes = compare(&original, &updated);
        assert_eq!(changes.len(), 1, "{value}");
        assert_eq!(changes[0].kind, TableChangeKind::Contents);
        assert_eq!(changes[0].to_string(), "items: 3 rows, contents changed");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn url_entry_points() {
    let Some(db) = TestDb::mysql().await else {
        return;
    };
    let mut conn = db.my().await;
    exec(&mut conn, SCHEMA).await;
    exec(
        &mut conn,
        "INSERT INTO alembic_version VALUES ('abc'); INSERT INTO orgs (slug, name) VALUES ('x', 'X')",
    )
    .await;
    let direct = snapshot_mysql(&mut conn, &db.name, DEFAULT_IGNORE)
        .await
        .unwrap();
    assert_eq!(snapshot_url(&db.url, DEFAULT_IGNORE).await.unwrap(), direct);
    let fp = fingerprint_url(&db.url, DEFAULT_IGNORE).await.unwrap();
    assert_eq!(fp["orgs"].rows, 1);
    assert!(!fp.contains_key("alembic_version"));
}

#[tokio::test(flavor = "multi_thread")]
async fn hundred_tables_snapshot_completely() {
    let Some(db) = TestDb::mysql().await else {
        return;
    };
    let mut conn = db.my().await;
    exec(
        &mut conn,
        &super::hundred_tables_sql(crate::engine::Engine::Mysql),
    )
    .await;
    // How long this takes is measured by `measure_hundred_tables_snapshot` (bench/core.sh).
    let snap = snapshot_mysql(&mut conn, &db.name, &[]).await.unwrap();
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
    let Some(db) = TestDb::mysql().await else {
        return;
    };
    let mut conn = db.my().await;
    exec(
        &mut conn,
        &super::hundred_tables_sql(crate::engine::Engine::Mysql),
    )
    .await;
    let mut times = Vec::new();
    for _ in 0..super::TIMING_RUNS {
        let start = std::time::Instant::now();
        let snap = snapshot_mysql(&mut conn, &db.name, &[]).await.unwrap();
        times.push(start.elapsed());
        assert_eq!(snap.tables.len(), 100);
    }
    super::report_timing("mysql", &mut times);
}

#[tokio::test(flavor = "multi_thread")]
async fn contents_read_every_value_as_text() {
    let Some(db) = TestDb::mysql().await else {
        return;
    };
    let mut conn = db.my().await;
    exec(
        &mut conn,
        "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20), price DECIMAL(6, 2),
                             at TIMESTAMP NULL, raw VARBINARY(4), doc JSON);
         CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY);
         SET time_zone = '+09:00';
         INSERT INTO items VALUES (1, 'a\"b', 1.5, '2024-01-01 09:00:00', X'01FF', '{\"k\": 1}'),
                                  (2, NULL, NULL, NULL, NULL, NULL), (3, '', 2, NULL, NULL, NULL);",
    )
    .await;
    let database: String = sqlx::query_scalar("SELECT DATABASE()")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let contents = crate::schema::contents_mysql(&mut conn, &database, DEFAULT_IGNORE, 10)
        .await
        .unwrap();
    assert_eq!(contents.keys().collect::<Vec<_>>(), ["items"]);
    let items = &contents["items"];
    assert!(items.complete);
    let mut rows = items.rows.clone();
    rows.sort();
    let text = |s: &str| Some(s.to_owned());
    assert_eq!(
        rows[0][..4],
        [
            text("1"),
            text("a\"b"),
            text("1.50"),
            text("2024-01-01 00:00:00")
        ]
    );
    assert!(rows[0][4].is_some());
    assert_eq!(rows[1], [text("2"), None, None, None, None, None]);
    assert_eq!(rows[2][1], text(""));
    // The session's own zone is given back.
    let zone: String = sqlx::query_scalar("SELECT CAST(@@session.time_zone AS CHAR)")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(zone, "+09:00");
}
