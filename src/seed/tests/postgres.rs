use serde_json::json;
use sqlx::{AssertSqlSafe, PgConnection};

use super::{chain_sql, expected_counts, no_user_rows, report_timing};
use crate::engine::Engine;
use crate::schema::tests::support::TestDb;
use crate::schema::{DEFAULT_IGNORE, snapshot_postgres};
use crate::seed::{UserRows, plan, seed_postgres, seed_url};

const SCHEMA: &str = "
CREATE TYPE order_status AS ENUM ('new', 'paid', 'shipped');
CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0);
CREATE TABLE orgs (id serial PRIMARY KEY, slug varchar(5) NOT NULL UNIQUE, name text NOT NULL,
    created_on date NOT NULL DEFAULT CURRENT_DATE);
CREATE TABLE users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id integer NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    email varchar(255) NOT NULL,
    manager_id bigint REFERENCES users(id),
    active boolean NOT NULL DEFAULT true,
    external_id uuid NOT NULL UNIQUE,
    profile jsonb,
    tags text[],
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, email)
);
CREATE UNIQUE INDEX ix_users_lower_email ON users (lower(email));
CREATE TABLE products (sku varchar(12) PRIMARY KEY, price numeric(5, 2) NOT NULL CHECK (price >= 0),
    status varchar(10) NOT NULL CHECK (status IN ('draft', 'live')), weight real,
    qty smallint CHECK (qty BETWEEN 1 AND 10));
CREATE TABLE orders (id serial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    status order_status NOT NULL, placed_on date NOT NULL, ships_on date, note char(3),
    CHECK (ships_on > placed_on));
CREATE TABLE order_items (order_id integer NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    line integer NOT NULL, sku varchar(12) NOT NULL REFERENCES products(sku),
    quantity integer NOT NULL CHECK (quantity > 0), PRIMARY KEY (order_id, line));
CREATE TABLE shipments (order_id integer NOT NULL, line integer NOT NULL, tracking varchar(20) UNIQUE,
    shipped_at timestamp,
    FOREIGN KEY (order_id, line) REFERENCES order_items(order_id, line) ON DELETE CASCADE);
CREATE TABLE departments (id serial PRIMARY KEY, name text NOT NULL, head_id integer);
CREATE TABLE employees (id serial PRIMARY KEY,
    department_id integer NOT NULL REFERENCES departments(id), name text NOT NULL);
ALTER TABLE departments ADD FOREIGN KEY (head_id) REFERENCES employees(id);
CREATE TABLE misc (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), ip inet, mac macaddr,
    span interval NOT NULL, bits bit(4) NOT NULL, payload bytea NOT NULL, during tstzrange,
    t time NOT NULL, ratio double precision NOT NULL, doc json NOT NULL, counts integer[] NOT NULL,
    moods order_status[], big bigint NOT NULL, tiny smallint NOT NULL, money_col money,
    score positive_int NOT NULL);
CREATE TABLE strict_codes (id serial PRIMARY KEY, code text NOT NULL CHECK (code ~ '^[A-Z]{3}$'));
CREATE TABLE picky (id serial PRIMARY KEY, name text NOT NULL,
    note text CHECK (note IS NULL OR note LIKE 'ok%'));
CREATE TABLE deferred_child (id serial PRIMARY KEY,
    org_id integer NOT NULL REFERENCES orgs(id) DEFERRABLE INITIALLY DEFERRED);
CREATE VIEW active_users AS SELECT id, email FROM users WHERE active;
";

async fn exec(conn: &mut PgConnection, sql: &str) {
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn scalar(conn: &mut PgConnection, sql: &str) -> i64 {
    sqlx::query_scalar(AssertSqlSafe(sql.to_owned()))
        .fetch_one(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn realistic_schema_is_seeded() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let mut conn = db.pg().await;
    exec(&mut conn, SCHEMA).await;
    let snap = snapshot_postgres(&mut conn, "public", DEFAULT_IGNORE)
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
    let report = seed_postgres(&mut conn, &snap, &plan).await.unwrap();
    eprintln!("{report}");

    let mut expected = expected_counts(&plan);
    expected.insert("strict_codes".into(), 0);
    assert_eq!(report.inserted, expected);
    assert_eq!(report.inserted["orgs"], 4);
    for (table, n) in &expected {
        let count = scalar(&mut conn, &format!("SELECT count(*) FROM \"{table}\"")).await;
        assert_eq!(count, *n as i64, "{table}");
    }
    assert_eq!(report.skipped.len(), 3, "{:?}", report.skipped);
    assert!(
        report
            .skipped
            .iter()
            .all(|s| s.table == "strict_codes" && s.reason.contains("violates check constraint"))
    );
    assert!(report.unlinked.is_empty(), "{:?}", report.unlinked);

    // Constraints hold (the database enforced them); spot-check what it cannot tell.
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
        scalar(&mut conn, "SELECT count(DISTINCT status) FROM orders").await,
        3
    );
    assert_eq!(
        scalar(&mut conn, "SELECT count(*) FROM picky WHERE note IS NULL").await,
        3
    );
    assert_eq!(
        scalar(&mut conn, "SELECT count(*) FROM users WHERE active").await,
        3
    );
    assert_eq!(
        scalar(
            &mut conn,
            "SELECT count(*) FROM misc WHERE cardinality(counts) = 1 AND length(bits) = 4"
        )
        .await,
        3
    );
    // A domain is a type this module cannot read: its rows went in on the retry.
    assert_eq!(
        scalar(&mut conn, "SELECT count(*) FROM misc WHERE score > 0").await,
        3
    );
    // Every generated key continues after the seeded rows.
    exec(&mut conn, "INSERT INTO orgs (slug, name) VALUES ('x', 'x')").await;
    exec(
        &mut conn,
        "INSERT INTO users (org_id, email, external_id) \
         SELECT max(id), 'new@example.com', gen_random_uuid() FROM orgs",
    )
    .await;
    exec(&mut conn, "INSERT INTO departments (name) VALUES ('x')").await;
    exec(
        &mut conn,
        "INSERT INTO misc (span, bits, payload, t, ratio, doc, counts, big, tiny, score) \
        VALUES ('1 day', B'1111', '\\x00', '10:00', 1.5, '{}', '{}', 1, 1, 1)",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn headline_not_null_column_without_default() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let mut conn = db.pg().await;
    exec(
        &mut conn,
        "CREATE TABLE t (id serial PRIMARY KEY, name text NOT NULL)",
    )
    .await;
    // Passes on the empty table...
    exec(&mut conn, "ALTER TABLE t ADD COLUMN c integer NOT NULL").await;
    exec(&mut conn, "ALTER TABLE t DROP COLUMN c").await;
    let snap = snapshot_postgres(&mut conn, "public", DEFAULT_IGNORE)
        .await
        .unwrap();
    let report = seed_url(&db.url, &snap, 3, &no_user_rows()).await.unwrap();
    assert_eq!(report.inserted["t"], 3);
    // ...and fails once the table has rows: the data-dependent failure.
    let err = sqlx::raw_sql("ALTER TABLE t ADD COLUMN c integer NOT NULL")
        .execute(&mut conn)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("contains null values"), "{err}");
    exec(&mut conn, "INSERT INTO t (name) VALUES ('x')").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_chained_tables_are_all_seeded() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let mut conn = db.pg().await;
    exec(&mut conn, &chain_sql(Engine::Postgres, 50).join(";\n")).await;
    let snap = snapshot_postgres(&mut conn, "public", DEFAULT_IGNORE)
        .await
        .unwrap();
    let report = seed_postgres(&mut conn, &snap, &plan(&snap, 3, &no_user_rows()))
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
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let mut conn = db.pg().await;
    exec(&mut conn, &chain_sql(Engine::Postgres, 50).join(";\n")).await;
    let snap = snapshot_postgres(&mut conn, "public", DEFAULT_IGNORE)
        .await
        .unwrap();
    let tables: Vec<String> = (0..50).map(|i| format!("t{i:03}")).collect();
    // TRUNCATE, not DELETE: it also drops the server's cached table state, as the schema
    // changes between two seedings of a real drill do.
    let truncate = format!("TRUNCATE {} RESTART IDENTITY", tables.join(", "));
    let mut times = Vec::new();
    for _ in 0..super::TIMING_RUNS {
        let start = std::time::Instant::now();
        let plan = plan(&snap, 3, &no_user_rows());
        let report = seed_postgres(&mut conn, &snap, &plan).await.unwrap();
        times.push(start.elapsed());
        assert_eq!(report.total_inserted(), 150, "{report}");
        exec(&mut conn, &truncate).await;
    }
    report_timing("postgres", &mut times);
}

/// Rows age with the history: a table created later is seeded on its own, its NOT NULL
/// foreign keys pointing at the rows its parent was given earlier (generated keys read
/// back from the table), and the parent is left as it was.
#[tokio::test(flavor = "multi_thread")]
async fn new_tables_are_seeded_on_top_of_existing_rows() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let mut conn = db.pg().await;
    exec(
        &mut conn,
        "CREATE TABLE parents (id serial PRIMARY KEY, name text NOT NULL)",
    )
    .await;
    let snap = snapshot_postgres(&mut conn, "public", DEFAULT_IGNORE)
        .await
        .unwrap();
    let first = seed_postgres(&mut conn, &snap, &plan(&snap, 3, &no_user_rows()))
        .await
        .unwrap();
    assert_eq!(first.inserted["parents"], 3);
    // Gaps in the generated keys: the child must use the keys that exist.
    exec(&mut conn, "DELETE FROM parents WHERE id = 1").await;
    exec(
        &mut conn,
        "CREATE TABLE children (id serial PRIMARY KEY,
            parent_id integer NOT NULL REFERENCES parents(id), label text NOT NULL UNIQUE)",
    )
    .await;
    let snap = snapshot_postgres(&mut conn, "public", DEFAULT_IGNORE)
        .await
        .unwrap();
    let more = plan(&snap, 3, &no_user_rows()).keep_existing(["parents".to_owned()]);
    let second = seed_postgres(&mut conn, &snap, &more).await.unwrap();
    assert_eq!(second.inserted.get("parents"), None);
    assert_eq!(second.inserted["children"], 3, "{second}");
    assert_eq!(scalar(&mut conn, "SELECT count(*) FROM parents").await, 2);
    assert_eq!(
        scalar(
            &mut conn,
            "SELECT count(*) FROM children c JOIN parents p ON p.id = c.parent_id"
        )
        .await,
        3
    );
}
