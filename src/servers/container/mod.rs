//! Database servers in Docker containers that alembic-drill starts and owns.
//!
//! Containers are created and started with testcontainers' `GenericImage`; everything else
//! (reachability, image checks, inspecting, listing, removing by label) goes through the same
//! bollard client testcontainers uses (`docker_client_instance`), so both always talk to the
//! same engine.
//!
//! Decisions worth knowing before changing anything here:
//!
//! - **Readiness is a real login** (`ready::wait_until_ready`), never a log line: MySQL 8
//!   prints "ready for connections" twice, and a restarted container prints no init lines.
//!   The official images run their init server without TCP (`listen_addresses=''`,
//!   `--skip-networking`), so the first successful TCP login is the real server. While
//!   waiting we also watch the container: if it exits we fail at once (`StartupFailed`)
//!   instead of waiting out the timeout.
//! - **Only what the official images support**: env vars (`POSTGRES_PASSWORD`,
//!   `MARIADB_ROOT_PASSWORD` / `MYSQL_ROOT_PASSWORD`) and server flags as CMD arguments
//!   starting with `-` (the official entrypoints prepend `postgres` / `mysqld` /
//!   `mariadbd`). Durability is off: nothing a rehearsal creates needs to survive a crash.
//! - **tmpfs data directory**: PostgreSQL's and MySQL's data live in a tmpfs (mounted on
//!   the image's declared VOLUME that holds the data, so PostgreSQL 18's new layout under
//!   `/var/lib/postgresql` works too). Measured here it saves 0.1-0.4 s per start and keeps
//!   migrations off the (fuse-)overlay filesystem. A stopped kept container loses its data
//!   and initialises again on restart, which is fine for throwaway databases.
//! - **Port published on 127.0.0.1 only** when the Docker engine shares our network
//!   namespace (see `connect::reach`). testcontainers' `with_mapped_port` cannot set a host IP,
//!   so the binding is set through `with_host_config_modifier`.
//! - **No leaks**: every container is named (`alembic-drill-<run>-<n>`, or
//!   `alembic-drill-keep-<hash>` for kept ones) and labelled, so a start that fails after
//!   the create is cleaned up by name, and a process killed by SIGTERM leaves containers
//!   that [`reap_stale`] removes on the next start (owner pid dead, same host, not kept).
//! - **Drop**: testcontainers' `ContainerAsync` removes its container on drop and needs a
//!   tokio runtime for that. `stop` removes explicitly; dropping a `ContainerServer` inside
//!   a runtime lets testcontainers remove it, outside a runtime we remove it from a helper
//!   thread with its own small runtime, so nothing panics and nothing leaks.

mod connect;
mod inspect;
mod log_tail;
mod owned;
mod recipe;
mod start;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Duration;

use bollard::Docker;
use testcontainers::{ContainerAsync, GenericImage};

use self::connect::{connect, ping};
use self::inspect::{is_gone, short_id};
use self::owned::{list_owned_with, reap_stale_with, remove_container, stop_kept_with};
use self::start::start_with;
use super::endpoint::Endpoint;
use super::error::{Result, ServerError};
use super::spec::Flavour;

/// Startup timeout used by [`ContainerOptions::new`]. MySQL 8's first start (init server,
/// timezone tables, restart) takes 10-20 s on a slow machine; pulling is not included.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// What to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerOptions {
    /// Image reference as given to Docker: `postgres:16-alpine`, `local/mariadb:10.11`,
    /// `registry:5000/team/postgis:16`, `postgres@sha256:...`.
    pub image: String,
    pub flavour: Flavour,
    /// Keep the container running after `stop`, and reuse it on the next start with the
    /// same options (from this or any other process).
    pub keep: bool,
    /// From `docker start` until a login works (pulling is not included).
    pub startup_timeout: Duration,
}

impl ContainerOptions {
    pub fn new(image: impl Into<String>, flavour: Flavour) -> Self {
        ContainerOptions {
            image: image.into(),
            flavour,
            keep: false,
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
        }
    }
}

/// A running database server in a container, with admin credentials.
pub struct ContainerServer {
    /// The testcontainers handle, only for containers this process created and must remove.
    /// Kept and attached containers have none: nothing may remove them on drop.
    container: Option<ContainerAsync<GenericImage>>,
    docker: Docker,
    id: String,
    name: String,
    image: String,
    endpoint: Endpoint,
    keep: bool,
    reused: bool,
}

impl fmt::Debug for ContainerServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContainerServer")
            .field("id", &short_id(&self.id))
            .field("name", &self.name)
            .field("image", &self.image)
            .field("endpoint", &self.endpoint)
            .field("keep", &self.keep)
            .field("reused", &self.reused)
            .finish()
    }
}

impl ContainerServer {
    /// Reaps stale containers first (see [`reap_stale`]), checks that Docker is reachable
    /// and that the image exists locally (else pulls it once; if that fails:
    /// [`ServerError::ImageMissing`]), starts the container and waits until a real login
    /// works. With `keep`, attaches to the kept container of the same options if there is
    /// one (starting it if it was stopped).
    pub async fn start(options: &ContainerOptions) -> Result<ContainerServer> {
        let docker = connect().await?;
        start_with(&docker, options).await
    }

    /// Admin credentials: the `postgres` superuser (admin database `postgres`), or MySQL's
    /// and MariaDB's `root` (no admin database).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub fn container_id(&self) -> &str {
        &self.id
    }

    pub fn container_name(&self) -> &str {
        &self.name
    }

    /// True when this attached to a kept container that already existed.
    pub fn reused(&self) -> bool {
        self.reused
    }

    pub fn kept(&self) -> bool {
        self.keep
    }

    /// For messages: `container local/postgres:15 (1a2b3c4d5e6f) on 127.0.0.1:49153`.
    pub fn describe(&self) -> String {
        let mut text = format!(
            "container {} ({}) on {}:{}",
            self.image,
            short_id(&self.id),
            self.endpoint.host,
            self.endpoint.port
        );
        if self.keep {
            text.push_str(&format!(", kept as {}", self.name));
            if self.reused {
                text.push_str(", reused");
            }
        }
        text
    }

    /// Removes the container. A kept container is left running: this only detaches.
    /// A container that is already gone counts as removed.
    pub async fn stop(mut self) -> Result<()> {
        let Some(container) = self.container.take() else {
            return Ok(());
        };
        match container.rm().await {
            Ok(()) => Ok(()),
            Err(error) if is_gone(&error) => Ok(()),
            Err(error) => {
                // `rm` consumed the handle; its Drop retries the removal. Make sure anyway.
                if remove_container(&self.docker, &self.id).await.is_ok() {
                    Ok(())
                } else {
                    Err(ServerError::Docker(format!(
                        "removing {}: {error}",
                        self.describe()
                    )))
                }
            }
        }
    }
}

impl Drop for ContainerServer {
    fn drop(&mut self) {
        let Some(container) = self.container.take() else {
            return;
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            // Inside a runtime testcontainers removes it (block_in_place on a multi-thread
            // runtime, its own drop thread on a current-thread one).
            drop(container);
            return;
        }
        // Outside a runtime testcontainers' Drop would panic (Handle::current()): remove it
        // from a helper thread with its own runtime and wait for that. If anything fails on
        // the way, the handle is forgotten rather than dropped (the container is then left
        // to `reap_stale` once this process has ended).
        let id = self.id.clone();
        let mut guard = ForgetOnDrop(Some(container));
        let helper = std::thread::Builder::new()
            .name("alembic-drill-container-drop".into())
            .spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                let Some(container) = guard.0.take() else {
                    return;
                };
                runtime.block_on(async move {
                    if container.rm().await.is_err() {
                        // The handle is consumed; make a last attempt with a fresh client.
                        if let Ok(docker) = connect().await {
                            let _ = remove_container(&docker, &id).await;
                        }
                    }
                });
            });
        if let Ok(helper) = helper {
            let _ = helper.join();
        }
    }
}

/// Forgets (never drops) a testcontainers handle it still holds when dropped: dropping one
/// outside a tokio runtime panics.
struct ForgetOnDrop(Option<ContainerAsync<GenericImage>>);

impl Drop for ForgetOnDrop {
    fn drop(&mut self) {
        if let Some(container) = self.0.take() {
            std::mem::forget(container);
        }
    }
}

/// A container carrying alembic-drill's labels.
#[derive(Debug, Clone)]
pub struct OwnedContainer {
    pub id: String,
    pub name: String,
    pub image: String,
    /// The spec it was started for, `docker:<image>`.
    pub spec: String,
    /// Admin endpoint, when the container is running and its password is readable.
    pub endpoint: Option<Endpoint>,
    pub kept: bool,
    pub owner_pid: Option<u32>,
    /// False only when the owner ran on this host and its process is gone: owners on other
    /// hosts cannot be checked and count as alive.
    pub owner_alive: bool,
    /// Creation time, UTC, RFC 3339 (`2025-01-31T12:00:00Z`).
    pub created: String,
}

/// Everything labelled `LABEL_MANAGED=true`, running or not.
pub async fn list_owned() -> Result<Vec<OwnedContainer>> {
    let docker = connect().await?;
    list_owned_with(&docker).await
}

/// Removes containers labelled managed, not kept, made on this host by a process that no
/// longer exists. Returns the removed names. Never touches a container without our label.
pub async fn reap_stale() -> Result<Vec<String>> {
    let docker = connect().await?;
    ping(&docker).await?;
    reap_stale_with(&docker).await
}

/// Removes kept containers (all, or only those started for `image`). Returns their names.
pub async fn stop_kept(image: Option<&str>) -> Result<Vec<String>> {
    let docker = connect().await?;
    stop_kept_with(&docker, image).await
}
