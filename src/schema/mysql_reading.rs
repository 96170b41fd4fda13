//! What reading a MySQL or MariaDB database's rows needs, whatever is made of them
//! (fingerprints, contents): its base tables with their columns, and a session in UTC.

use std::collections::BTreeMap;

use sqlx::MySqlConnection;

/// Every base table of `database` but the `ignore`d ones, with its columns in table order.
pub(crate) async fn base_table_columns(
    conn: &mut MySqlConnection,
    database: &str,
    ignore: &[&str],
) -> Result<BTreeMap<String, Vec<String>>, sqlx::Error> {
    // Two queries rather than a join: MariaDB re-reads information_schema per joined row.
    let base_tables: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = ? AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')",
    )
    .bind(database)
    .fetch_all(&mut *conn)
    .await?;
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT CAST(TABLE_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR) \
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? \
         ORDER BY TABLE_NAME, ORDINAL_POSITION",
    )
    .bind(database)
    .fetch_all(&mut *conn)
    .await?;
    let mut tables: BTreeMap<String, Vec<String>> = base_tables
        .into_iter()
        .filter(|t| !ignore.contains(&t.as_str()))
        .map(|t| (t, Vec::new()))
        .collect();
    for (table, column) in columns {
        if let Some(columns) = tables.get_mut(&table) {
            columns.push(column);
        }
    }
    Ok(tables)
}

/// Sets the session's time zone to UTC (TIMESTAMP values render in it, so readings taken
/// over different connections compare), with `settings` beside it (`; SET ...`, or "").
/// Returns the zone it had, for [`restore_zone`].
pub(crate) async fn utc_session(
    conn: &mut MySqlConnection,
    settings: &str,
) -> Result<String, sqlx::Error> {
    let saved_zone: String = sqlx::query_scalar("SELECT CAST(@@session.time_zone AS CHAR)")
        .fetch_one(&mut *conn)
        .await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SET time_zone = '+00:00'{settings}"
    )))
    .execute(&mut *conn)
    .await?;
    Ok(saved_zone)
}

/// Gives the connection back the zone [`utc_session`] saved: called whatever the reading
/// in between did.
pub(crate) async fn restore_zone(
    conn: &mut MySqlConnection,
    saved_zone: String,
) -> Result<(), sqlx::Error> {
    sqlx::query("SET time_zone = ?")
        .bind(saved_zone)
        .execute(&mut *conn)
        .await
        .map(drop)
}
