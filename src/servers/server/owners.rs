//! The owner marks of the databases made on a shared server (given by URL, or kept between
//! runs; see `databases::owners`): set when a database is made, read by `db list`, and
//! used by the next run to drop what a killed run left there.

use super::{AdminPool, Server};
use crate::servers::databases::owners::{self, MarkedDatabase};
use crate::servers::error::Result;

impl Server {
    /// Before a database is made: on a shared server, the run is recorded on this host
    /// (see `owner_mark::register_this_run`), so the name leads to its owner at once.
    pub(super) fn before_create(&self) {
        if self.shared() {
            owners::before_create();
        }
    }

    /// Marks a database this object made with its owner, on a shared server (the servers
    /// a run starts for itself go away with it, databases included).
    pub(super) async fn mark_owner(&self, name: &str) -> Result<()> {
        if !self.shared() {
            return Ok(());
        }
        let (server, _) = self.who()?;
        match &self.admin {
            AdminPool::Postgres(pool) => owners::mark_postgres(pool, &server, name).await,
            AdminPool::Mysql(pool) => owners::mark_mysql(pool, &server, name).await,
            AdminPool::None => Ok(()),
        }
    }

    /// alembic-drill's databases on this server, with their owners where marked.
    pub async fn marked_databases(&self) -> Result<Vec<MarkedDatabase>> {
        let (server, _) = self.who()?;
        match &self.admin {
            AdminPool::Postgres(pool) => owners::list_postgres(pool, &server).await,
            AdminPool::Mysql(pool) => owners::list_mysql(pool, &server).await,
            AdminPool::None => Ok(Vec::new()),
        }
    }

    /// Drops the databases whose owner (a run on this host) is gone; returns their names.
    pub async fn reap_stale_databases(&self) -> Result<Vec<String>> {
        let mut reaped = Vec::new();
        for database in self.marked_databases().await? {
            if database.stale() {
                self.drop_database(&database.name).await?;
                reaped.push(database.name);
            }
        }
        Ok(reaped)
    }
}
