//! Every server alembic-drill owns on this machine, whatever runs it: what `db list` shows,
//! what `db stop` stops and what a new run reaps. Containers are found by label, local
//! servers by their state folders; the two listings become one.

use serde::Serialize;

use super::error::{Result, ServerError};
use super::spec::DatabaseSpec;
use super::{container, local};

/// What runs a listed server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerKind {
    Docker,
    Local,
}

/// One owned server, as listings show it. Serialises to the dict `list_servers()` returns
/// in Python, keys in this order. No password: the URL is masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OwnedServer {
    pub kind: ServerKind,
    /// The container's name, or the local server's folder.
    pub id: String,
    /// `docker:<image>` or `local:<flavour>`.
    pub spec: String,
    /// The admin URL with its password masked, when the server runs and its credentials
    /// are readable.
    pub url: Option<String>,
    pub kept: bool,
    pub owner_pid: Option<u32>,
    /// False only when the owner ran on this machine and its process is gone.
    pub owner_alive: bool,
}

impl From<container::OwnedContainer> for OwnedServer {
    fn from(c: container::OwnedContainer) -> OwnedServer {
        OwnedServer {
            kind: ServerKind::Docker,
            id: c.name,
            spec: c.spec,
            url: c.endpoint.map(|e| e.masked_url(None)),
            kept: c.kept,
            owner_pid: c.owner_pid,
            owner_alive: c.owner_alive,
        }
    }
}

impl From<local::OwnedLocalServer> for OwnedServer {
    fn from(l: local::OwnedLocalServer) -> OwnedServer {
        OwnedServer {
            kind: ServerKind::Local,
            id: l.dir.display().to_string(),
            spec: l.spec,
            url: l.endpoint.map(|e| e.masked_url(None)),
            kept: l.kept,
            owner_pid: l.owner_pid,
            owner_alive: l.owner_alive,
        }
    }
}

/// Every server alembic-drill owns on this machine: containers first, then local servers.
pub async fn list() -> Result<Vec<OwnedServer>> {
    // Docker may simply not be there: that is not an error for a listing.
    let containers = container::list_owned().await.unwrap_or_default();
    let locals = local::list_owned()?;
    Ok(containers
        .into_iter()
        .map(OwnedServer::from)
        .chain(locals.into_iter().map(OwnedServer::from))
        .collect())
}

/// Stops the servers kept alive between runs: all of them, or those of one spec (a
/// `docker:` spec's image, a `local:` spec's flavour; no other kind of spec keeps a
/// server). Returns what was stopped: container names, then local server folders.
pub async fn stop_kept(spec: Option<&DatabaseSpec>) -> Result<Vec<String>> {
    let mut stopped = Vec::new();
    let (docker, local) = match spec {
        None => (true, true),
        Some(DatabaseSpec::Docker { .. }) => (true, false),
        Some(DatabaseSpec::Local { .. }) => (false, true),
        Some(_) => (false, false),
    };
    if docker {
        let image = match spec {
            Some(DatabaseSpec::Docker { image, .. }) => Some(image.as_str()),
            _ => None,
        };
        match container::stop_kept(image).await {
            Ok(names) => stopped.extend(names),
            // No Docker: nothing of ours can be running there.
            Err(ServerError::DockerUnreachable { .. }) if spec.is_none() => {}
            Err(e) => return Err(e),
        }
    }
    if local {
        let flavour = match spec {
            Some(DatabaseSpec::Local { flavour }) => Some(*flavour),
            _ => None,
        };
        stopped.extend(
            local::stop_kept(flavour)
                .await?
                .into_iter()
                .map(|p| p.display().to_string()),
        );
    }
    Ok(stopped)
}

/// Removes what crashed runs left behind: containers and local servers whose owner
/// process is gone and that were not kept. Returns what was removed.
pub async fn reap_stale() -> Result<Vec<String>> {
    let mut reaped = Vec::new();
    match container::reap_stale().await {
        Ok(names) => reaped.extend(names),
        // No Docker: nothing of ours can be left there.
        Err(ServerError::DockerUnreachable { .. }) => {}
        Err(e) => return Err(e),
    }
    reaped.extend(
        local::reap_stale()
            .await?
            .into_iter()
            .map(|p| p.display().to_string()),
    );
    Ok(reaped)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::engine::Engine;
    use crate::servers::endpoint::Endpoint;

    #[test]
    fn entries_serialise_as_the_listing_shows_them_without_a_password() {
        let entry = OwnedServer::from(local::OwnedLocalServer {
            dir: PathBuf::from("/dev/shm/alembic-drill-0/local-postgresql-keep"),
            spec: "local:postgresql".into(),
            endpoint: Some(Endpoint {
                engine: Engine::Postgres,
                host: "127.0.0.1".into(),
                port: 40001,
                user: "postgres".into(),
                password: Some("s3cret".into()),
                admin_database: Some("postgres".into()),
            }),
            kept: true,
            server_pid: Some(4242),
            owner_pid: None,
            owner_alive: true,
        });
        assert_eq!(
            serde_json::to_string(&entry).unwrap(),
            "{\"kind\":\"local\",\"id\":\"/dev/shm/alembic-drill-0/local-postgresql-keep\",\
             \"spec\":\"local:postgresql\",\
             \"url\":\"postgresql://postgres:***@127.0.0.1:40001/postgres\",\
             \"kept\":true,\"owner_pid\":null,\"owner_alive\":true}"
        );
    }

    #[tokio::test]
    async fn specs_that_keep_nothing_stop_nothing() {
        for spec in ["sqlite", "postgresql://u:p@127.0.0.1:1/x"] {
            let spec: DatabaseSpec = spec.parse().unwrap();
            assert_eq!(stop_kept(Some(&spec)).await.unwrap(), Vec::<String>::new());
        }
    }
}
