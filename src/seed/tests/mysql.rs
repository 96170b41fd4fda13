use serde_json::json;
use sqlx::{AssertSqlSafe, MySqlConnection};

use super::{chain_sql, expected_counts, no_user_rows, report_timing};
use crate::engine::Engine;
use crate::schema::tests::support::TestDb;
use crate::schema::{DEFAULT_IGNORE, snapshot_mysql};
use crate::seed::{UserRows, plan, seed_mysql, seed_url};

const SCHEMA: &[&str] = &[
    "CREATE TABLE orgs (id INT AUTO_INCREMENT PRIMARY KEY, slug VARCHAR(5) NOT NULL UNIQUE,
        name TEXT NOT NULL, created_on DATE NOT NULL DEFAULT (CURRENT_DATE))",
    "CREATE TABLE users (id BIGINT AUTO_INCREMENT PRIMARY KEY, org_id INT NOT NULL,
        email VARCHAR(255) NOT NULL, manager_id BIGINT NULL, active TINYINT(1) NOT NULL DEFAULT 1,
        status ENUM('new','active','gone') NOT NULL, profile JSON,
        created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, UNIQUE (org_id, email),
        FOREIGN KEY (org_id) REFERENCES orgs(id) ON DELETE CASCADE,
        FOREIGN KEY (manager_id) REFERENCES users(id))",
    "CREATE TABLE products (sku VARCHAR(12) PRIMARY KEY,
        price DECIMAL(5,2) NOT NULL CHECK (price >= 0),
        status VARCHAR(10) NOT NULL CHECK (status IN ('draft','live')),
        qty SMALLINT CHECK (qty BETWEEN 1 AND 10), weight DOUBLE, flags SET('a','b'), made YEAR)",
    "CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, user_id BIGINT NOT NULL,
        placed_on DATE NOT NULL, ships_on DATE, note CHAR(3), uid CHAR(36) NOT NULL, t TIME,
        bin VARBINARY(8), big BIGINT UNSIGNED NOT NULL, tiny TINYINT NOT NULL,
        FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE,
        CHECK (ships_on > placed_on))",
    "CREATE TABLE order_items (order_id INT NOT NULL, line INT NOT NULL, sku VARCHAR(12) NOT NULL,
        quantity INT UNSIGNED NOT NULL CHECK (quantity > 0), PRIMARY KEY (order_id, line),
        FOREIGN KEY (order_id) REFERENCES orders(id) ON DELETE CASCADE,
        FOREIGN KEY (sku) REFERENCES products(sku))",
    "CREATE TABLE shipments (id INT AUTO_INCREMENT PRIMARY KEY, order_id INT NOT NULL,
        line INT NOT NULL, tracking VARCHAR(20) UNIQUE,
        FOREIGN KEY (order_id, line) REFERENCES order_items(order_id, line) ON DELETE CASCADE)",
    "CREATE TABLE departments (id INT AUTO_INCREMENT PRIMARY KEY, name TEXT NOT NULL, head_id INT NULL)",
    "CREATE TABLE employees (id INT AUTO_INCREMENT PRIMARY KEY, department_id INT NOT NULL,
        name TEXT NOT NULL, FOREIGN KEY (department_id) REFERENCES departments(id))",
    "ALTER TABLE departments ADD FOREIGN KEY (head_id) REFERENCES employees(id)",
    "CREATE TABLE strict_codes (id INT AUTO_INCREMENT PRIMARY KEY,
        code VARCHAR(10) NOT NULL CHECK (code REGEXP '^[0-9]{3}$'))",
    "CREATE TABLE picky (id INT AUTO_INCREMENT PRIMARY KEY, name TEXT NOT NULL, note TEXT,
        CHECK (note IS NULL OR note LIKE 'ok%'))",
    "CREATE TABLE plain (code INT PRIMARY KEY, label VARCHAR(3) NOT NULL UNIQUE) ENGINE=MyISAM",
    "CREATE VIEW active_users AS SELECT id, email FROM users WHERE active",
];

async fn exec(conn: &mut MySqlConnection, sql: &str) {
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn scalar(conn: &mut MySqlConnection, sql: &str) -> i64 {
    sqlx::query_scalar(AssertSqlSafe(sql.to_owned()))
        .fetch_one(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn realistic_schema_is_seeded() {
    let Some(db) = TestDb::mysql().await else {
        return;
    };
    let mut conn = db.my().await;
    for statement in SCHEMA {
        exec(&mut conn, statement).await;
    }
    let snap = snapshot_mysql(&mut conn, &db.name, DEFAULT_IGNORE)
        .await
        .unwrap();
    let mut user = UserRows::new();
    user.insert(
        "orgs".into(),
        vec![
            json!({"slug": "acme", "name": "Acme"})
                .as_object()
                .cloned()
                .unwrap(),
        ],
    );
    let plan = plan(&snap, 3, &user);
    let report = seed_mysql(&mut conn, &snap, &plan).await.unwrap();
    eprintln!("{report}");

    let mut expected = expected_counts(&plan);
    expected.insert("strict_codes".into(), 0);
    assert_eq!(report.inserted, expected);
    assert_eq!(report.inserted["orgs"], 4);
    for (table, n) in &expected {
        let count = scalar(&mut conn, &format!("SELECT count(*) FROM `{table}`")).await;
        assert_eq!(count, *n as i64, "{table}");
    }
    assert_eq!(report.skipped.len(), 3, "{:?}", report.skipped);
    // MariaDB: "CONSTRAINT `strict_codes.code` failed for ...", MySQL: "Check constraint
    // 'strict_codes_chk_1' is violated."
    assert!(
        report
            .skipped
            .iter()
            .all(|s| s.table == "strict_codes" && s.reason.to_lowercase().contains("constraint")),
        "{:?}",
        report.skipped
    );
    assert!(report.unlinked.is_empty(), "{:?}", report.unlinked);

    assert_eq!(
        scalar(
            &mut conn,
            "SELECT count(*) FROM users u JOIN orgs o ON o.id = u.org_id WHERE o.slug = 'acme'"
        )
        .await,
        1
    );
    assert_eq!(
        scalar(
            &mut conn,
            "SELECT count(*) FROM users WHERE manager_id IS NULL"
        )
        .await,
        1
    );
    assert_eq!(
        scalar(
            &mut conn,
            "SELECT count(*) FROM departments WHERE head_id IS NOT NULL"
        )
        .await,
        3
    );
    assert_eq!(
        scalar(
            &mut conn,
            "SELECT count(*) FROM users WHERE json_valid(profile)"
        )
        .await,
        3
    );
    assert_eq!(
        scalar(&mut conn, "SELECT count(DISTINCT status) FROM users").await,
        3
    );
    assert_eq!(
        scalar(&mut conn, "SELECT count(*) FROM picky WHERE note IS NULL").await,
        3
    );
    assert_eq!(
        scalar(
            &mut conn,
            "SELECT count(*) FROM orders WHERE ships_on <= placed_on"
        )
        .await,
        0
    );
    assert_eq!(
        scalar(
            &mut conn,
            "SELECT count(*) FROM shipments s JOIN order_items i USING (order_id, line)"
        )
        .await,
        3
    );
    exec(&mut conn, "INSERT INTO orgs (slug, name) VALUES ('x', 'x')").await;
    exec(&mut conn, "INSERT INTO departments (name) VALUES ('x')").await;
    exec(
        &mut conn,
        "INSERT INTO shipments (order_id, line) SELECT order_id, line FROM order_items LIMIT 1",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn headline_not_null_column_without_default() {
    let Some(db) = TestDb::mysql().await else {
        return;
    };
    let mut conn = db.my().await;
    let mode: String = sqlx::query_scalar("SELECT CAST(@@SESSION.sql_mode AS CHAR)")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(mode.contains("STRICT_TRANS_TABLES"), "{mode}");
    exec(
        &mut conn,
        "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(50) NOT NULL)",
    )
    .await;
    let snap = snapshot_mysql(&mut conn, &db.name, DEFAULT_IGNORE)
        .await
        .unwrap();
    let report = seed_url(&db.url, &snap, 3, &no_user_rows()).await.unwrap();
    assert_eq!(report.inserted["t"], 3);
    // MariaDB (strict mode included) fills the implicit default 0 into existing rows: adding
    // a NOT NULL column without a default is NOT a data-dependent failure here.
    exec(&mut conn, "ALTER TABLE t ADD COLUMN c INT NOT NULL").await;
    assert_eq!(
        scalar(&mut conn, "SELECT count(*) FROM t WHERE c = 0").await,
        3
    );
    // Narrowing a column is: it passes on an empty table, fails over seeded values.
    exec(
        &mut conn,
        "CREATE TABLE e (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(50) NOT NULL)",
    )
    .await;
    exec(&mut conn, "ALTER TABLE e MODIFY name VARCHAR(3) NOT NULL").await;
    exec(&mut conn, "ALTER TABLE e MODIFY name VARCHAR(50) NOT NULL").await;
    let snap = snapshot_mysql(&mut conn, &db.name, DEFAULT_IGNORE)
        .await
        .unwrap();
    let only_e = {
        let mut snap = snap.clone();
        snap.tables.retain(|name, _| name == "e");
        snap
    };
    let report = seed_mysql(&mut conn, &only_e, &plan(&only_e, 3, &no_user_rows()))
        .await
        .unwrap();
    assert_eq!(report.inserted["e"], 3);
    let err = sqlx::raw_sql("ALTER TABLE e MODIFY name VARCHAR(3) NOT NULL")
        .execute(&mut conn)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("Data truncated for column 'name'"),
        "{err}"
    );
    exec(&mut conn, "INSERT INTO t (name, c) VALUES ('x', 1)").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_chained_tables_are_all_seeded() {
    let Some(db) = TestDb::mysql().await else {
        return;
    };
    let mut conn = db.my().await;
    for statement in chain_sql(Engine::Mysql, 50) {
        exec(&mut conn, &statement).await;
    }
    let snap = snapshot_mysql(&mut conn, &db.name, DEFAULT_IGNORE)
        .await
        .unwrap();
    let report = seed_mysql(&mut conn, &snap, &plan(&snap, 3, &no_user_rows()))
        .await
        .unwrap();
    assert_eq!(report.total_inserted(), 150, "{report}");
    for i in 0..50 {
        assert_eq!(report.inserted[&format!("t{i:03}")], 3, "{report}");
    }
    for i in 1..50 {
        let orphans = format!(
            "SELECT count(*) FROM t{i:03} c LEFT JOIN t{:03} p ON p.id = c.parent_id \
             WHERE p.id IS NULL",
            i - 1
        );
        assert_eq!(scalar(&mut conn, &orphans).await, 0, "t{i:03}");
    }
}

/// Seeding 50 tables, timed: `bench/core.sh` (or
/// `cargo test --lib measure_fifty_tables -- --ignored --nocapture`).
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn measure_fifty_tables() {
    let Some(db) = TestDb::mysql().await else {
        return;
    };
    let mut conn = db.my().await;
    for statement in chain_sql(Engine::Mysql, 50) {
        exec(&mut conn, &statement).await;
    }
    let snap = snapshot_mysql(&mut conn, &db.name, DEFAULT_IGNORE)
        .await
        .unwrap();
    let mut truncate = String::from("SET FOREIGN_KEY_CHECKS = 0;");
    for i in 0..50 {
        truncate.push_str(&format!(" TRUNCATE t{i:03};"));
    }
    truncate.push_str(" SET FOREIGN_KEY_CHECKS = 1;");
    let mut times = Vec::new();
    for _ in 0..super::TIMING_RUNS {
        let start = std::time::Instant::now();
        let plan = plan(&snap, 3, &no_user_rows());
        let report = seed_mysql(&mut conn, &snap, &plan).await.unwrap();
        times.push(start.elapsed());
        assert_eq!(report.total_inserted(), 150, "{report}");
        exec(&mut conn, &truncate).await;
    }
    report_timing("mysql", &mut times);
}
