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
//!   namespace (see [`reach`]). testcontainers' `with_mapped_port` cannot set a host IP,
//!   so the binding is set through `with_host_config_modifier`.
//! - **No leaks**: every container is named (`alembic-drill-<run>-<n>`, or
//!   `alembic-drill-keep-<hash>` for kept ones) and labelled, so a start that fails after
//!   the create is cleaned up by name, and a process killed by SIGTERM leaves containers
//!   that [`reap_stale`] removes on the next start (owner pid dead, same host, not kept).
//! - **Drop**: testcontainers' `ContainerAsync` removes its container on drop and needs a
//!   tokio runtime for that. `stop` removes explicitly; dropping a `ContainerServer` inside
//!   a runtime lets testcontainers remove it, outside a runtime we remove it from a helper
//!   thread with its own small runtime, so nothing panics and nothing leaks.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerInspectResponse, ContainerStateStatusEnum, ContainerSummary, HostConfig, PortBinding,
    PortMap,
};
use bollard::query_parameters::{ListContainersOptionsBuilder, RemoveContainerOptionsBuilder};
use testcontainers::core::client::ClientError;
use testcontainers::core::error::TestcontainersError;
use testcontainers::core::logs::LogFrame;
use testcontainers::core::{IntoContainerPort, Mount};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use super::endpoint::{Endpoint, random_password};
use super::error::{Result, ServerError};
use super::ownership::{
    LABEL_HOST, LABEL_KEEP, LABEL_MANAGED, LABEL_OWNER_PID, LABEL_RUN, LABEL_SPEC, process_alive,
    this_process,
};
use super::ready;
use super::spec::Flavour;

/// Startup timeout used by [`ContainerOptions::new`]. MySQL 8's first start (init server,
/// timezone tables, restart) takes 10-20 s on a slow machine; pulling is not included.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a missing image may take to pull. A nonexistent tag or an unreachable registry
/// fails within a second or two; this only bounds a registry that does not answer.
const PULL_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the engine may take to answer a ping before we call it unreachable.
const PING_TIMEOUT: Duration = Duration::from_secs(10);
/// How long we wait for another process to start a kept container it has just created.
const CREATED_GRACE: Duration = Duration::from_secs(15);
/// Log lines kept in memory per container, and lines shown in a startup error.
const LOG_BUFFER_LINES: usize = 200;
const LOG_TAIL_LINES: usize = 20;
/// Changes the kept-container names whenever what we pass to the image changes, so an old
/// kept container (other flags) is never attached to by a newer alembic-drill.
const KEEP_RECIPE_VERSION: &str = "1";

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

// ---------------------------------------------------------------------------------------
// Connecting

/// The bollard client testcontainers itself uses (same DOCKER_HOST / properties lookup).
async fn connect() -> Result<Docker> {
    testcontainers::core::client::docker_client_instance()
        .await
        .map_err(|error| ServerError::DockerUnreachable {
            cause: error.to_string(),
        })
}

async fn ping(docker: &Docker) -> Result<()> {
    match tokio::time::timeout(PING_TIMEOUT, docker.ping()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(ServerError::DockerUnreachable {
            cause: error.to_string(),
        }),
        Err(_) => Err(ServerError::DockerUnreachable {
            cause: format!("no answer within {}s", PING_TIMEOUT.as_secs()),
        }),
    }
}

/// Where published ports are bound and reached from this process.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reach {
    bind_ip: String,
    host: String,
}

/// Decides where to publish ports and which address reaches them.
///
/// testcontainers' `get_host()` returns the bridge gateway whenever `/.dockerenv` exists,
/// assuming the engine runs on the host and we run in a sibling container with the socket
/// mounted. In these sandboxes the engine runs *inside* our own container (docker0 is one of
/// our interfaces): the gateway works only if the port is published on all interfaces, while
/// 127.0.0.1 works with a 127.0.0.1-only binding, which is what we want (no database with a
/// known superuser exposed to the network). So:
///
/// - `DOCKER_HOST=tcp://host...` (a remote engine): publish on all interfaces, connect to
///   that host (loopback hosts are treated as local).
/// - no `/.dockerenv`: the engine is on this machine: 127.0.0.1.
/// - in a container: if the engine's bridge gateway address is one of our own addresses
///   (we can bind a socket to it), the engine shares our network namespace: 127.0.0.1.
///   Otherwise the engine is outside: publish on all interfaces and connect to the gateway.
async fn reach(docker: &Docker) -> Reach {
    let local = Reach {
        bind_ip: "127.0.0.1".into(),
        host: "127.0.0.1".into(),
    };
    if let Some(host) = remote_docker_host() {
        let loopback = host == "localhost"
            || host
                .trim_matches(['[', ']'])
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        return if loopback {
            local
        } else {
            Reach {
                bind_ip: "0.0.0.0".into(),
                host,
            }
        };
    }
    if !Path::new("/.dockerenv").exists() {
        return local;
    }
    match bridge_gateway(docker).await {
        Some(gateway) if std::net::UdpSocket::bind((gateway, 0)).is_err() => Reach {
            bind_ip: "0.0.0.0".into(),
            host: gateway.to_string(),
        },
        _ => local,
    }
}

/// The host of `DOCKER_HOST` when it names a TCP engine.
fn remote_docker_host() -> Option<String> {
    let value = std::env::var("DOCKER_HOST").ok()?;
    let url = url::Url::parse(&value).ok()?;
    match url.scheme() {
        "tcp" | "http" | "https" => url.host_str().map(str::to_owned),
        _ => None,
    }
}

/// The default bridge network's gateway: IPAM's `Gateway`, or the subnet's first address
/// (what Docker assigns when the daemon config does not name one).
async fn bridge_gateway(docker: &Docker) -> Option<IpAddr> {
    let network = docker
        .inspect_network(
            "bridge",
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        .ok()?;
    let configs = network.ipam?.config?;
    for config in &configs {
        if let Some(gateway) = config.gateway.as_deref().and_then(|g| g.parse().ok()) {
            return Some(gateway);
        }
    }
    configs.iter().find_map(|config| {
        let subnet = config.subnet.as_deref()?;
        let base: Ipv4Addr = subnet.split('/').next()?.parse().ok()?;
        Some(IpAddr::V4(Ipv4Addr::from(u32::from(base).checked_add(1)?)))
    })
}

// ---------------------------------------------------------------------------------------
// What each flavour needs

/// Env, flags and port for a flavour. Official images only: env vars and `-`-prefixed
/// arguments, which their entrypoints pass to the server binary.
struct Recipe {
    port: u16,
    user: String,
    admin_database: Option<String>,
    /// Env vars that carry the admin password (all get the same value).
    password_vars: &'static [&'static str],
    args: &'static [&'static str],
}

impl Recipe {
    fn of(flavour: Flavour) -> Recipe {
        match flavour {
            Flavour::Postgresql => Recipe {
                port: 5432,
                user: "postgres".into(),
                admin_database: Some("postgres".into()),
                password_vars: &["POSTGRES_PASSWORD"],
                args: &[
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                ],
            },
            Flavour::Mysql => Recipe {
                port: 3306,
                user: "root".into(),
                admin_database: None,
                password_vars: &["MYSQL_ROOT_PASSWORD"],
                args: &[
                    "--innodb-flush-log-at-trx-commit=0",
                    "--sync-binlog=0",
                    "--skip-log-bin",
                    "--skip-name-resolve",
                ],
            },
            Flavour::Mariadb => Recipe {
                port: 3306,
                user: "root".into(),
                admin_database: None,
                // MARIADB_* for current images, the MYSQL_* alias for old tags.
                password_vars: &["MARIADB_ROOT_PASSWORD", "MYSQL_ROOT_PASSWORD"],
                // The binary log is off by default in MariaDB.
                args: &[
                    "--innodb-flush-log-at-trx-commit=0",
                    "--sync-binlog=0",
                    "--skip-name-resolve",
                ],
            },
        }
    }

    fn port_key(&self) -> String {
        format!("{}/tcp", self.port)
    }

    fn endpoint(&self, flavour: Flavour, host: &str, port: u16, password: String) -> Endpoint {
        Endpoint {
            engine: flavour.engine(),
            host: host.to_owned(),
            port,
            user: self.user.clone(),
            password: Some(password),
            admin_database: self.admin_database.clone(),
        }
    }
}

/// Where the tmpfs goes: the image's declared VOLUME that holds the data directory (so
/// PostgreSQL 18+, with `PGDATA=/var/lib/postgresql/18/docker` under `VOLUME
/// /var/lib/postgresql`, gets its tmpfs there and not on the old path, which its entrypoint
/// rejects), else the data directory itself.
fn tmpfs_target(flavour: Flavour, image_env: &[String], image_volumes: &[String]) -> String {
    let data_dir = match flavour {
        Flavour::Postgresql => image_env
            .iter()
            .find_map(|kv| kv.strip_prefix("PGDATA="))
            .filter(|dir| dir.starts_with('/'))
            .unwrap_or("/var/lib/postgresql/data")
            .trim_end_matches('/')
            .to_owned(),
        Flavour::Mysql | Flavour::Mariadb => "/var/lib/mysql".to_owned(),
    };
    image_volumes
        .iter()
        .map(|volume| volume.trim_end_matches('/'))
        .filter(|volume| {
            !volume.is_empty()
                && (data_dir == *volume || data_dir.starts_with(&format!("{volume}/")))
        })
        .min_by_key(|volume| volume.len())
        .map(str::to_owned)
        .unwrap_or(data_dir)
}

/// Splits an image reference into testcontainers' name and tag, so that `name:tag` is the
/// reference again (`postgres@sha256:abc` -> `postgres@sha256` + `abc` works too).
fn split_image(image: &str) -> (String, String) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') && !name.is_empty() && !tag.is_empty() => {
            (name.to_owned(), tag.to_owned())
        }
        _ => (image.to_owned(), "latest".to_owned()),
    }
}

/// The deterministic name of the kept container for these options.
fn keep_name(options: &ContainerOptions, recipe: &Recipe, reach: &Reach) -> String {
    // FNV-1a: stable across Rust versions and processes (DefaultHasher is not).
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let parts = [
        KEEP_RECIPE_VERSION,
        options.image.as_str(),
        options.flavour.as_str(),
        reach.bind_ip.as_str(),
    ]
    .into_iter()
    .chain(recipe.args.iter().copied());
    for part in parts {
        for byte in part.bytes().chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("alembic-drill-keep-{:012x}", hash >> 16)
}

fn fresh_name() -> String {
    static SEQUENCE: AtomicU32 = AtomicU32::new(0);
    let owner = this_process();
    format!(
        "alembic-drill-{}-{}-{}",
        owner.run_id,
        owner.pid,
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    )
}

fn labels(options: &ContainerOptions) -> Vec<(String, String)> {
    let owner = this_process();
    vec![
        (LABEL_MANAGED.into(), "true".into()),
        (LABEL_RUN.into(), owner.run_id.clone()),
        (LABEL_OWNER_PID.into(), owner.pid.to_string()),
        (LABEL_HOST.into(), owner.host.clone()),
        (LABEL_KEEP.into(), options.keep.to_string()),
        (LABEL_SPEC.into(), format!("docker:{}", options.image)),
    ]
}

// ---------------------------------------------------------------------------------------
// Starting

async fn start_with(docker: &Docker, options: &ContainerOptions) -> Result<ContainerServer> {
    ping(docker).await?;
    // Best effort: a leftover we cannot remove must not stop this run.
    let _ = reap_stale_with(docker).await;
    let plan = Plan {
        docker,
        options,
        recipe: Recipe::of(options.flavour),
        reach: reach(docker).await,
        what: format!("container {}", options.image),
    };
    start_planned(&plan).await
}

/// Everything one start needs.
struct Plan<'a> {
    docker: &'a Docker,
    options: &'a ContainerOptions,
    recipe: Recipe,
    reach: Reach,
    /// `container <image>`, for messages.
    what: String,
}

async fn start_planned(plan: &Plan<'_>) -> Result<ContainerServer> {
    let options = plan.options;
    let keep_name = options
        .keep
        .then(|| keep_name(options, &plan.recipe, &plan.reach));
    if let Some(name) = &keep_name
        && let Some(server) = attach(plan, name).await?
    {
        return Ok(server);
    }

    let image = ensure_image(plan.docker, options).await?;
    let name = keep_name.clone().unwrap_or_else(fresh_name);
    match create_and_start(plan, &image, &name).await {
        Err(Created::Conflict) if options.keep => {
            // Another process is creating the same kept container: use theirs. Docker
            // reserves the name before the container can be inspected, so it may take a
            // moment to appear.
            let grace = Instant::now() + CREATED_GRACE;
            loop {
                if let Some(server) = attach(plan, &name).await? {
                    return Ok(server);
                }
                if Instant::now() >= grace {
                    return Err(ServerError::Docker(format!(
                        "kept container {name} is being created by another process but did \
                         not appear within {}s; try again",
                        CREATED_GRACE.as_secs()
                    )));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Err(Created::Conflict) => Err(ServerError::Docker(format!(
            "a container named {name} already exists"
        ))),
        Err(Created::Failed(error)) => Err(error),
        Ok(server) => Ok(server),
    }
}

/// What the image says about itself (for the tmpfs target).
struct ImageFacts {
    env: Vec<String>,
    volumes: Vec<String>,
}

/// Makes sure the image is here: inspect first (testcontainers would only pull after a
/// failed create, and keep retrying), then one pull with a timeout.
async fn ensure_image(docker: &Docker, options: &ContainerOptions) -> Result<ImageFacts> {
    let (name, tag) = split_image(&options.image);
    let reference = format!("{name}:{tag}");
    let missing = |cause: String| ServerError::ImageMissing {
        image: options.image.clone(),
        engine: options.flavour.as_str(),
        cause,
    };
    let inspected = match docker.inspect_image(&reference).await {
        Ok(inspected) => inspected,
        Err(error) if status_of(&error) == Some(404) => {
            let pull = GenericImage::new(name, tag).pull_image();
            match tokio::time::timeout(PULL_TIMEOUT, pull).await {
                Err(_) => {
                    return Err(missing(format!(
                        "the pull did not finish within {}s",
                        PULL_TIMEOUT.as_secs()
                    )));
                }
                Ok(Err(error)) => return Err(missing(pull_cause(&error))),
                Ok(Ok(_)) => {}
            }
            docker
                .inspect_image(&reference)
                .await
                .map_err(|error| missing(format!("pulled, but cannot inspect it: {error}")))?
        }
        Err(error) => {
            return Err(ServerError::Docker(format!(
                "inspecting image {}: {error}",
                options.image
            )));
        }
    };
    let config = inspected.config.unwrap_or_default();
    Ok(ImageFacts {
        env: config.env.unwrap_or_default(),
        volumes: config.volumes.unwrap_or_default(),
    })
}

/// The innermost message of a failed pull (the registry's or the resolver's words).
fn pull_cause(error: &TestcontainersError) -> String {
    match error {
        TestcontainersError::Client(ClientError::PullImage { err, .. }) => match err {
            BollardError::DockerResponseServerError { message, .. } => message.clone(),
            BollardError::DockerStreamError { error } => error.clone(),
            other => other.to_string(),
        },
        other => other.to_string(),
    }
}

enum Created {
    /// The name is taken (409): someone else created it.
    Conflict,
    Failed(ServerError),
}

impl From<ServerError> for Created {
    fn from(error: ServerError) -> Self {
        Created::Failed(error)
    }
}

async fn create_and_start(
    plan: &Plan<'_>,
    image: &ImageFacts,
    name: &str,
) -> std::result::Result<ContainerServer, Created> {
    let Plan {
        docker,
        options,
        recipe,
        reach,
        what,
    } = plan;
    let docker = *docker;
    // Pulling is done: the startup timeout runs from here.
    let deadline = Instant::now() + options.startup_timeout;
    let password = random_password();
    let tail = LogTail::new(&password);
    let (image_name, tag) = split_image(&options.image);

    let port_key = recipe.port_key();
    let bind_ip = reach.bind_ip.clone();
    let mut request = GenericImage::new(image_name, tag)
        .with_exposed_port(recipe.port.tcp())
        .with_container_name(name)
        .with_labels(labels(options))
        .with_cmd(recipe.args.iter().copied())
        .with_mount(Mount::tmpfs_mount(tmpfs_target(
            options.flavour,
            &image.env,
            &image.volumes,
        )))
        .with_startup_timeout(remaining(deadline))
        .with_log_consumer({
            let tail = tail.clone();
            move |frame: &LogFrame| tail.push(frame)
        })
        // with_mapped_port cannot name a host IP: publish only our port, on `bind_ip`,
        // with a port the engine picks.
        .with_host_config_modifier(move |host_config: &mut HostConfig| {
            host_config.publish_all_ports = Some(false);
            host_config.port_bindings = Some(PortMap::from([(
                port_key.clone(),
                Some(vec![PortBinding {
                    host_ip: Some(bind_ip.clone()),
                    host_port: None,
                }]),
            )]));
        });
    for var in recipe.password_vars {
        request = request.with_env_var(*var, password.clone());
    }

    let container = match request.start().await {
        Ok(container) => container,
        Err(error) if is_conflict(&error) => return Err(Created::Conflict),
        Err(error) => {
            // testcontainers leaves the container behind when `docker start` fails or the
            // timeout hits before it built its handle: remove it by name.
            let _ = remove_container(docker, name).await;
            return Err(Created::Failed(start_error(what, options, error, &tail)));
        }
    };
    let id = container.id().to_owned();

    let ready = async {
        let inspected = inspect(docker, &id).await?;
        let port = host_port(&inspected, recipe, what, Some(&tail)).await?;
        let endpoint = recipe.endpoint(options.flavour, &reach.host, port, password.clone());
        wait_ready(
            docker,
            &id,
            &endpoint,
            what,
            deadline,
            options.startup_timeout,
            Some(&tail),
        )
        .await?;
        Ok::<_, ServerError>(endpoint)
    };
    let endpoint = match ready.await {
        Ok(endpoint) => endpoint,
        Err(error) => {
            if container.rm().await.is_err() {
                let _ = remove_container(docker, &id).await;
            }
            return Err(Created::Failed(error));
        }
    };

    let container = if options.keep {
        // A kept container must outlive this handle, whose Drop would remove it (the
        // `reusable-containers` feature is off). Forgetting it leaks a few hundred bytes
        // and one reference to testcontainers' shared client, once per kept container.
        std::mem::forget(container);
        None
    } else {
        Some(container)
    };
    Ok(ContainerServer {
        container,
        docker: docker.clone(),
        id,
        name: name.to_owned(),
        image: options.image.clone(),
        endpoint,
        keep: options.keep,
        reused: false,
    })
}

/// Attaches to the kept container `name`: `Ok(None)` when there is none.
async fn attach(plan: &Plan<'_>, name: &str) -> Result<Option<ContainerServer>> {
    let Plan {
        docker,
        options,
        recipe,
        reach,
        what,
    } = plan;
    let docker = *docker;
    let deadline = Instant::now() + options.startup_timeout;
    let Some(mut inspected) = inspect_optional(docker, name).await? else {
        return Ok(None);
    };
    let labels = inspected
        .config
        .as_ref()
        .and_then(|config| config.labels.clone())
        .unwrap_or_default();
    if labels.get(LABEL_MANAGED).map(String::as_str) != Some("true")
        || labels.get(LABEL_KEEP).map(String::as_str) != Some("true")
    {
        return Err(ServerError::Docker(format!(
            "a container named {name} exists but alembic-drill did not create it as a kept \
             container; remove or rename it"
        )));
    }
    let id = inspected.id.clone().unwrap_or_else(|| name.to_owned());

    // Someone may have just created it (the 409 race): give them time to start it.
    let grace = Instant::now() + CREATED_GRACE;
    while status(&inspected) == Some(ContainerStateStatusEnum::CREATED) && Instant::now() < grace {
        tokio::time::sleep(Duration::from_millis(100)).await;
        match inspect_optional(docker, &id).await? {
            Some(again) => inspected = again,
            None => return Ok(None),
        }
    }
    match status(&inspected) {
        Some(ContainerStateStatusEnum::RUNNING | ContainerStateStatusEnum::RESTARTING) => {}
        Some(ContainerStateStatusEnum::PAUSED) => {
            docker
                .unpause_container(&id)
                .await
                .map_err(|error| ServerError::Docker(format!("unpausing {name}: {error}")))?;
        }
        Some(ContainerStateStatusEnum::DEAD) => {
            remove_container(docker, &id).await?;
            return Ok(None);
        }
        Some(ContainerStateStatusEnum::REMOVING) => {
            return Err(ServerError::Docker(format!(
                "kept container {name} is being removed; try again in a moment"
            )));
        }
        _ => {
            // Stopped (or created and never started): start it. Its data directory is a
            // tmpfs, so it initialises again; the password comes from its env.
            docker
                .start_container(
                    &id,
                    None::<bollard::query_parameters::StartContainerOptions>,
                )
                .await
                .map_err(|error| ServerError::Docker(format!("starting {name}: {error}")))?;
        }
    }
    let inspected = inspect(docker, &id).await?;

    let env = inspected
        .config
        .as_ref()
        .and_then(|config| config.env.clone())
        .unwrap_or_default();
    let password = recipe
        .password_vars
        .iter()
        .find_map(|var| env_value(&env, var))
        .ok_or_else(|| {
            ServerError::Docker(format!(
                "kept container {name} has no {} in its env; remove it (stop_kept)",
                recipe.password_vars.join(" or ")
            ))
        })?;
    let what = format!("{what} (kept as {name})");
    let ready = async {
        let port = host_port(&inspected, recipe, &what, None).await?;
        let mut endpoint = recipe.endpoint(options.flavour, &reach.host, port, password);
        if options.flavour == Flavour::Postgresql
            && let Some(user) = env_value(&env, "POSTGRES_USER")
        {
            endpoint.user = user;
        }
        wait_ready(
            docker,
            &id,
            &endpoint,
            &what,
            deadline,
            options.startup_timeout,
            None,
        )
        .await?;
        Ok(endpoint)
    };
    let endpoint = match ready.await {
        Ok(endpoint) => endpoint,
        Err(error @ ServerError::StartupFailed { .. }) => {
            // It exited: it is of no use to anyone. The next start makes a new one.
            let _ = remove_container(docker, &id).await;
            return Err(error);
        }
        Err(error) => return Err(error),
    };
    Ok(Some(ContainerServer {
        container: None,
        docker: docker.clone(),
        id,
        name: name.to_owned(),
        image: options.image.clone(),
        endpoint,
        keep: true,
        reused: true,
    }))
}

/// The last log lines for an error, or where to find them when we did not follow the logs.
fn tail_lines(tail: Option<&LogTail>, id: &str, extra: Vec<String>) -> Vec<String> {
    let mut lines = match tail {
        Some(tail) => tail.last(LOG_TAIL_LINES),
        None => vec![format!("(see `docker logs {}`)", short_id(id))],
    };
    lines.extend(extra);
    lines
}

/// The host port of the server's published port. A container that already exited has
/// none: that is a failed start, with its logs.
async fn host_port(
    inspected: &ContainerInspectResponse,
    recipe: &Recipe,
    what: &str,
    tail: Option<&LogTail>,
) -> Result<u16> {
    if let Some(port) = published_port(inspected, &recipe.port_key()) {
        return Ok(port);
    }
    let state = inspected.state.clone().unwrap_or_default();
    if state.running != Some(true) {
        // Let the log follower catch the last lines.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let id = inspected.id.as_deref().unwrap_or_default();
        return Err(ServerError::StartupFailed {
            what: what.to_owned(),
            log_tail: tail_lines(
                tail,
                id,
                vec![format!("(exit code {})", state.exit_code.unwrap_or(-1))],
            ),
        });
    }
    Err(ServerError::Docker(format!(
        "{what}: port {} is not published",
        recipe.port
    )))
}

/// Waits for a real login while watching the container: fails at once if it exits, and
/// adds its last log lines to a timeout.
async fn wait_ready(
    docker: &Docker,
    id: &str,
    endpoint: &Endpoint,
    what: &str,
    deadline: Instant,
    total: Duration,
    tail: Option<&LogTail>,
) -> Result<()> {
    let timeout = remaining(deadline);
    // Errors name the configured timeout, not what was left of it.
    let seconds = total.as_secs();
    let log_tail = |extra: Vec<String>| tail_lines(tail, id, extra);
    let exited = async {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            match inspect_optional(docker, id).await {
                Ok(None) => return "the container was removed".to_owned(),
                Ok(Some(inspected)) => {
                    let state = inspected.state.unwrap_or_default();
                    if state.running != Some(true) && state.restarting != Some(true) {
                        return format!("exit code {}", state.exit_code.unwrap_or(-1));
                    }
                }
                Err(_) => {}
            }
        }
    };
    // The login loop checks its clock only between attempts: bound it from outside too.
    let login = tokio::time::timeout(
        timeout + Duration::from_secs(5),
        ready::wait_until_ready(endpoint, what, timeout),
    );
    tokio::select! {
        outcome = login => match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(ServerError::StartupTimeout { what, log_tail: attempts, .. })) => {
                Err(ServerError::StartupTimeout { what, seconds, log_tail: log_tail(attempts) })
            }
            Ok(Err(error)) => Err(error),
            Err(_) => Err(ServerError::StartupTimeout {
                what: what.to_owned(),
                seconds,
                log_tail: log_tail(Vec::new()),
            }),
        },
        how = exited => {
            // Let the log follower catch the last lines.
            tokio::time::sleep(Duration::from_millis(300)).await;
            Err(ServerError::StartupFailed {
                what: what.to_owned(),
                log_tail: log_tail(vec![format!("({how})")]),
            })
        }
    }
}

fn start_error(
    what: &str,
    options: &ContainerOptions,
    error: TestcontainersError,
    tail: &LogTail,
) -> ServerError {
    match &error {
        TestcontainersError::Client(ClientError::PullImage { .. }) => ServerError::ImageMissing {
            image: options.image.clone(),
            engine: options.flavour.as_str(),
            cause: pull_cause(&error),
        },
        TestcontainersError::WaitContainer(_) => ServerError::StartupTimeout {
            what: what.to_owned(),
            seconds: options.startup_timeout.as_secs(),
            log_tail: tail.last(LOG_TAIL_LINES),
        },
        _ => ServerError::Docker(format!("starting {what}: {error}")),
    }
}

// ---------------------------------------------------------------------------------------
// Listing and removing

async fn list_labelled(docker: &Docker, labels: &[String]) -> Result<Vec<ContainerSummary>> {
    let filters = HashMap::from([("label".to_owned(), labels.to_vec())]);
    docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|error| ServerError::Docker(format!("listing containers: {error}")))
}

async fn list_owned_with(docker: &Docker) -> Result<Vec<OwnedContainer>> {
    ping(docker).await?;
    let reach = reach(docker).await;
    let me = this_process();
    let mut owned = Vec::new();
    for summary in list_labelled(docker, &[format!("{LABEL_MANAGED}=true")]).await? {
        let Some(id) = summary.id.clone() else {
            continue;
        };
        let labels = summary.labels.clone().unwrap_or_default();
        let spec = labels.get(LABEL_SPEC).cloned().unwrap_or_default();
        let owner_pid = labels.get(LABEL_OWNER_PID).and_then(|pid| pid.parse().ok());
        let same_host = labels.get(LABEL_HOST) == Some(&me.host);
        let owner_alive = !same_host || owner_pid.is_some_and(process_alive);
        let image = spec
            .strip_prefix("docker:")
            .map(str::to_owned)
            .or_else(|| summary.image.clone())
            .unwrap_or_default();
        let endpoint = match inspect_optional(docker, &id).await {
            Ok(Some(inspected)) => owned_endpoint(&inspected, &image, &reach),
            _ => None,
        };
        owned.push(OwnedContainer {
            name: summary_name(&summary).unwrap_or_else(|| short_id(&id).to_owned()),
            id,
            image,
            spec,
            endpoint,
            kept: labels.get(LABEL_KEEP).map(String::as_str) == Some("true"),
            owner_pid,
            owner_alive,
            created: summary.created.map(format_utc).unwrap_or_default(),
        });
    }
    owned.sort_by(|a, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
    Ok(owned)
}

/// The admin endpoint of a running container of ours, if its port and password are known.
fn owned_endpoint(
    inspected: &ContainerInspectResponse,
    image: &str,
    reach: &Reach,
) -> Option<Endpoint> {
    if inspected.state.as_ref()?.running != Some(true) {
        return None;
    }
    let env = inspected.config.as_ref()?.env.clone().unwrap_or_default();
    let flavour = Flavour::of_image(image).or_else(|| {
        if env_value(&env, "POSTGRES_PASSWORD").is_some() {
            Some(Flavour::Postgresql)
        } else if env_value(&env, "MARIADB_ROOT_PASSWORD").is_some() {
            Some(Flavour::Mariadb)
        } else {
            env_value(&env, "MYSQL_ROOT_PASSWORD").map(|_| Flavour::Mysql)
        }
    })?;
    let recipe = Recipe::of(flavour);
    let password = recipe
        .password_vars
        .iter()
        .find_map(|var| env_value(&env, var))?;
    let port = published_port(inspected, &recipe.port_key())?;
    let mut endpoint = recipe.endpoint(flavour, &reach.host, port, password);
    if flavour == Flavour::Postgresql
        && let Some(user) = env_value(&env, "POSTGRES_USER")
    {
        endpoint.user = user;
    }
    Some(endpoint)
}

async fn reap_stale_with(docker: &Docker) -> Result<Vec<String>> {
    let me = this_process();
    let candidates = list_labelled(
        docker,
        &[
            format!("{LABEL_MANAGED}=true"),
            format!("{LABEL_HOST}={}", me.host),
        ],
    )
    .await?;
    let mut removed = Vec::new();
    for summary in candidates {
        let labels = summary.labels.clone().unwrap_or_default();
        // Double-check what the filter promised: never touch anything else.
        if labels.get(LABEL_MANAGED).map(String::as_str) != Some("true")
            || labels.get(LABEL_HOST) != Some(&me.host)
            || labels.get(LABEL_KEEP).map(String::as_str) == Some("true")
        {
            continue;
        }
        let Some(pid) = labels
            .get(LABEL_OWNER_PID)
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me.pid || process_alive(pid) {
            continue;
        }
        let Some(id) = summary.id.as_deref() else {
            continue;
        };
        if remove_container(docker, id).await.is_ok() {
            removed.push(summary_name(&summary).unwrap_or_else(|| short_id(id).to_owned()));
        }
    }
    Ok(removed)
}

async fn stop_kept_with(docker: &Docker, image: Option<&str>) -> Result<Vec<String>> {
    ping(docker).await?;
    let mut filters = vec![
        format!("{LABEL_MANAGED}=true"),
        format!("{LABEL_KEEP}=true"),
    ];
    if let Some(image) = image {
        filters.push(format!("{LABEL_SPEC}=docker:{image}"));
    }
    let mut removed = Vec::new();
    for summary in list_labelled(docker, &filters).await? {
        let Some(id) = summary.id.as_deref() else {
            continue;
        };
        remove_container(docker, id).await?;
        removed.push(summary_name(&summary).unwrap_or_else(|| short_id(id).to_owned()));
    }
    Ok(removed)
}

/// Force-removes a container and its anonymous volumes; a container already gone is fine.
async fn remove_container(docker: &Docker, id: &str) -> Result<()> {
    let options = RemoveContainerOptionsBuilder::new()
        .force(true)
        .v(true)
        .build();
    match docker.remove_container(id, Some(options)).await {
        Ok(()) => Ok(()),
        // 404: gone; 409: "removal already in progress".
        Err(error) if matches!(status_of(&error), Some(404 | 409)) => Ok(()),
        Err(error) => Err(ServerError::Docker(format!(
            "removing container {}: {error}",
            short_id(id)
        ))),
    }
}

// ---------------------------------------------------------------------------------------
// Small helpers

async fn inspect_optional(docker: &Docker, id: &str) -> Result<Option<ContainerInspectResponse>> {
    match docker
        .inspect_container(
            id,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
    {
        Ok(inspected) => Ok(Some(inspected)),
        Err(error) if status_of(&error) == Some(404) => Ok(None),
        Err(error) => Err(ServerError::Docker(format!(
            "inspecting container {}: {error}",
            short_id(id)
        ))),
    }
}

async fn inspect(docker: &Docker, id: &str) -> Result<ContainerInspectResponse> {
    inspect_optional(docker, id)
        .await?
        .ok_or_else(|| ServerError::Docker(format!("container {} disappeared", short_id(id))))
}

fn status(inspected: &ContainerInspectResponse) -> Option<ContainerStateStatusEnum> {
    inspected.state.as_ref()?.status
}

/// The host port of `port_key` (`5432/tcp`), preferring an IPv4 binding.
fn published_port(inspected: &ContainerInspectResponse, port_key: &str) -> Option<u16> {
    let bindings = inspected
        .network_settings
        .as_ref()?
        .ports
        .as_ref()?
        .get(port_key)?
        .as_ref()?;
    let port_of = |binding: &PortBinding| binding.host_port.as_deref()?.parse::<u16>().ok();
    bindings
        .iter()
        .filter(|binding| {
            binding
                .host_ip
                .as_deref()
                .is_none_or(|ip| ip.is_empty() || ip.parse::<Ipv4Addr>().is_ok())
        })
        .find_map(port_of)
        .or_else(|| bindings.iter().find_map(port_of))
}

fn env_value(env: &[String], var: &str) -> Option<String> {
    env.iter()
        .find_map(|kv| kv.strip_prefix(var)?.strip_prefix('='))
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
}

fn summary_name(summary: &ContainerSummary) -> Option<String> {
    summary
        .names
        .as_ref()?
        .first()
        .map(|name| name.trim_start_matches('/').to_owned())
}

fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

fn remaining(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(100))
}

fn status_of(error: &BollardError) -> Option<u16> {
    match error {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

fn is_conflict(error: &TestcontainersError) -> bool {
    matches!(
        error,
        TestcontainersError::Client(ClientError::CreateContainer(error))
            if status_of(error) == Some(409)
    )
}

fn is_gone(error: &TestcontainersError) -> bool {
    matches!(
        error,
        TestcontainersError::Client(ClientError::RemoveContainer(error))
            if matches!(status_of(error), Some(404 | 409))
    )
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (civil-from-days, no date crate needed).
fn format_utc(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3_600,
        secs % 3_600 / 60,
        secs % 60
    )
}

/// The last lines a container printed (stdout and stderr, in order), with the password
/// masked, collected by a testcontainers log consumer from the moment it starts.
#[derive(Clone)]
struct LogTail {
    inner: Arc<Mutex<LogTailInner>>,
    password: Arc<str>,
}

#[derive(Default)]
struct LogTailInner {
    lines: VecDeque<String>,
    partial_stdout: String,
    partial_stderr: String,
}

impl LogTail {
    fn new(password: &str) -> LogTail {
        LogTail {
            inner: Arc::default(),
            password: password.into(),
        }
    }

    fn push(&self, frame: &LogFrame) {
        let text = String::from_utf8_lossy(frame.bytes());
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let LogTailInner {
            lines,
            partial_stdout,
            partial_stderr,
        } = &mut *inner;
        let partial = match frame {
            LogFrame::StdOut(_) => partial_stdout,
            LogFrame::StdErr(_) => partial_stderr,
        };
        partial.push_str(&text);
        while let Some(end) = partial.find('\n') {
            let line: String = partial.drain(..=end).collect();
            let line = line.trim_end_matches(['\n', '\r']);
            if !line.trim().is_empty() {
                lines.push_back(line.replace(&*self.password, "***"));
                if lines.len() > LOG_BUFFER_LINES {
                    lines.pop_front();
                }
            }
        }
    }

    fn last(&self, count: usize) -> Vec<String> {
        let Ok(inner) = self.inner.lock() else {
            return Vec::new();
        };
        let mut lines: Vec<String> = inner.lines.iter().cloned().collect();
        for partial in [&inner.partial_stdout, &inner.partial_stderr] {
            if !partial.trim().is_empty() {
                lines.push(partial.trim_end().replace(&*self.password, "***"));
            }
        }
        let skip = lines.len().saturating_sub(count);
        lines.split_off(skip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUIRE_DOCKER: &str = "ALEMBIC_DRILL_REQUIRE_DOCKER";

    fn pg_image() -> String {
        std::env::var("ALEMBIC_DRILL_PG_IMAGE").unwrap_or_else(|_| "local/postgres:15".into())
    }

    fn mariadb_image() -> String {
        std::env::var("ALEMBIC_DRILL_MARIADB_IMAGE")
            .unwrap_or_else(|_| "local/mariadb:10.11".into())
    }

    /// The Docker client when Docker and the images are here; otherwise skips (None), or
    /// fails when ALEMBIC_DRILL_REQUIRE_DOCKER=1 (CI).
    async fn docker_with(images: &[&str]) -> Option<Docker> {
        let required = std::env::var(REQUIRE_DOCKER).is_ok_and(|v| v == "1");
        let skip = |why: String| {
            if required {
                panic!("{why} ({REQUIRE_DOCKER}=1, so this fails instead of skipping)");
            }
            eprintln!("skipping: {why}");
            None
        };
        let docker = match connect().await {
            Ok(docker) => docker,
            Err(error) => return skip(format!("Docker is not usable: {error}")),
        };
        if let Err(error) = ping(&docker).await {
            return skip(format!("Docker is not reachable: {error}"));
        }
        for image in images {
            if docker.inspect_image(image).await.is_err() {
                return skip(format!(
                    "image {image} is not present (scripts/build-local-db-images.sh)"
                ));
            }
        }
        Some(docker)
    }

    fn options(image: &str, flavour: Flavour) -> ContainerOptions {
        ContainerOptions {
            startup_timeout: Duration::from_secs(90),
            ..ContainerOptions::new(image, flavour)
        }
    }

    async fn exists(docker: &Docker, id: &str) -> bool {
        inspect_optional(docker, id).await.unwrap().is_some()
    }

    async fn check_fresh_server(image: &str, flavour: Flavour) {
        let Some(docker) = docker_with(&[image]).await else {
            return;
        };
        let clock = Instant::now();
        let server = ContainerServer::start(&options(image, flavour))
            .await
            .unwrap();
        eprintln!(
            "fresh {image}: ready in {:?} ({})",
            clock.elapsed(),
            server.describe()
        );

        let endpoint = server.endpoint().clone();
        assert!(!server.reused());
        match flavour {
            Flavour::Postgresql => {
                assert_eq!(endpoint.user, "postgres");
                assert_eq!(endpoint.admin_database.as_deref(), Some("postgres"));
            }
            Flavour::Mysql | Flavour::Mariadb => {
                assert_eq!(endpoint.user, "root");
                assert_eq!(endpoint.admin_database, None);
            }
        }
        ready::try_login(&endpoint).await.unwrap();
        let mut wrong = endpoint.clone();
        wrong.password = Some("not-the-password".into());
        let error = ready::try_login(&wrong).await.unwrap_err();
        assert!(ready::is_auth_error(&error), "{error}");

        let password = endpoint.password.clone().unwrap();
        let description = format!("{} {:?} {:?}", server.describe(), server, endpoint);
        assert!(!description.contains(&password), "{description}");

        // Labels, 127.0.0.1-only binding (this engine shares our network namespace).
        let inspected = inspect(&docker, server.container_id()).await.unwrap();
        let labels = inspected.config.clone().unwrap().labels.unwrap();
        let me = this_process();
        assert_eq!(labels[LABEL_MANAGED], "true");
        assert_eq!(labels[LABEL_RUN], me.run_id);
        assert_eq!(labels[LABEL_OWNER_PID], me.pid.to_string());
        assert_eq!(labels[LABEL_HOST], me.host);
        assert_eq!(labels[LABEL_KEEP], "false");
        assert_eq!(labels[LABEL_SPEC], format!("docker:{image}"));
        let mounts = inspected
            .host_config
            .clone()
            .unwrap()
            .mounts
            .unwrap_or_default();
        assert!(
            mounts.iter().any(|m| {
                m.typ == Some(bollard::models::MountType::TMPFS)
                    && m.target
                        .as_deref()
                        .is_some_and(|t| t.starts_with("/var/lib/"))
            }),
            "{mounts:?}"
        );
        let key = Recipe::of(flavour).port_key();
        let bindings = inspected.network_settings.unwrap().ports.unwrap()[&key]
            .clone()
            .unwrap();
        if reach(&docker).await.bind_ip == "127.0.0.1" {
            assert!(
                bindings
                    .iter()
                    .all(|b| b.host_ip.as_deref() == Some("127.0.0.1")),
                "{bindings:?}"
            );
        }

        let listed = list_owned().await.unwrap();
        let mine = listed
            .iter()
            .find(|owned| owned.id == server.container_id())
            .expect("list_owned shows it");
        assert!(mine.owner_alive && !mine.kept && mine.owner_pid == Some(me.pid));
        assert_eq!(mine.endpoint.as_ref(), Some(&endpoint));
        assert!(mine.created.ends_with('Z'), "{}", mine.created);

        let id = server.container_id().to_owned();
        server.stop().await.unwrap();
        assert!(!exists(&docker, &id).await, "stop removes the container");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn postgres_starts_logs_in_and_is_removed() {
        check_fresh_server(&pg_image(), Flavour::Postgresql).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn mariadb_starts_logs_in_and_is_removed() {
        check_fresh_server(&mariadb_image(), Flavour::Mariadb).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn kept_container_is_reused_restarted_and_stopped() {
        let image = pg_image();
        let Some(docker) = docker_with(&[&image]).await else {
            return;
        };
        let options = ContainerOptions {
            keep: true,
            ..options(&image, Flavour::Postgresql)
        };
        stop_kept(Some(&image)).await.unwrap();

        let clock = Instant::now();
        let first = ContainerServer::start(&options).await.unwrap();
        eprintln!("kept {image}, first start: {:?}", clock.elapsed());
        assert!(!first.reused() && first.kept());
        assert!(first.container_name().starts_with("alembic-drill-keep-"));
        let (id, endpoint) = (first.container_id().to_owned(), first.endpoint().clone());
        first.stop().await.unwrap();
        assert!(
            exists(&docker, &id).await,
            "stop leaves a kept container running"
        );

        let clock = Instant::now();
        let second = ContainerServer::start(&options).await.unwrap();
        eprintln!("kept {image}, second start (attach): {:?}", clock.elapsed());
        assert!(second.reused());
        assert_eq!(second.container_id(), id);
        assert_eq!(
            second.endpoint(),
            &endpoint,
            "password read back from the env"
        );
        ready::try_login(second.endpoint()).await.unwrap();
        drop(second); // detaching by drop must not remove it either
        assert!(exists(&docker, &id).await);

        // Stopped kept container: started again and waited for by login.
        docker
            .stop_container(&id, None::<bollard::query_parameters::StopContainerOptions>)
            .await
            .unwrap();
        let clock = Instant::now();
        let third = ContainerServer::start(&options).await.unwrap();
        eprintln!(
            "kept {image}, start after docker stop: {:?}",
            clock.elapsed()
        );
        assert!(third.reused());
        ready::try_login(third.endpoint()).await.unwrap();
        third.stop().await.unwrap();

        let listed = list_owned().await.unwrap();
        assert!(listed.iter().any(|owned| owned.id == id && owned.kept));
        let removed = stop_kept(Some(&image)).await.unwrap();
        assert_eq!(removed.len(), 1, "{removed:?}");
        assert!(!exists(&docker, &id).await);

        // Two starts racing for the same kept container: one creates, the other attaches
        // (409 Conflict on create, or it finds the container already there).
        let (a, b) = tokio::join!(
            ContainerServer::start(&options),
            ContainerServer::start(&options)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.container_id(), b.container_id());
        assert!(a.reused() != b.reused(), "exactly one of them created it");
        ready::try_login(a.endpoint()).await.unwrap();
        ready::try_login(b.endpoint()).await.unwrap();
        a.stop().await.unwrap();
        b.stop().await.unwrap();
        assert_eq!(stop_kept(Some(&image)).await.unwrap().len(), 1);
    }

    /// A created (never started) container with `labels`, straight through bollard.
    async fn create_bare(docker: &Docker, image: &str, name: &str, labels: &[(&str, String)]) {
        let body = bollard::models::ContainerCreateBody {
            image: Some(image.to_owned()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.clone()))
                    .collect(),
            ),
            ..Default::default()
        };
        let options = bollard::query_parameters::CreateContainerOptionsBuilder::new()
            .name(name)
            .build();
        docker.create_container(Some(options), body).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn reap_stale_removes_only_dead_owners_containers() {
        let image = pg_image();
        let Some(docker) = docker_with(&[&image]).await else {
            return;
        };
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = child.id();
        child.wait().unwrap();
        assert!(!process_alive(dead_pid));

        let me = this_process();
        let ours = |pid: u32, keep: bool| {
            vec![
                (LABEL_MANAGED, "true".to_owned()),
                (LABEL_RUN, "deadbeef".to_owned()),
                (LABEL_OWNER_PID, pid.to_string()),
                (LABEL_HOST, me.host.clone()),
                (LABEL_KEEP, keep.to_string()),
                (LABEL_SPEC, format!("docker:{image}")),
            ]
        };
        let tag = format!("{}-{}", me.run_id, me.pid);
        let dead = format!("alembic-drill-test-dead-{tag}");
        let alive = format!("alembic-drill-test-alive-{tag}");
        let kept = format!("alembic-drill-test-kept-dead-{tag}");
        let foreign = format!("alembic-drill-test-unlabelled-{tag}");
        create_bare(&docker, &image, &dead, &ours(dead_pid, false)).await;
        create_bare(&docker, &image, &alive, &ours(me.pid, false)).await;
        create_bare(&docker, &image, &kept, &ours(dead_pid, true)).await;
        // Unlabelled except for a dead pid under another key: must never be touched.
        create_bare(
            &docker,
            &image,
            &foreign,
            &[("owner-pid", dead_pid.to_string())],
        )
        .await;

        let removed = reap_stale().await.unwrap();
        eprintln!("reaped: {removed:?}");
        // Another test's start() may have reaped it first: what counts is that it is gone.
        assert!(
            !exists(&docker, &dead).await,
            "dead owner's container is removed"
        );
        assert!(!removed.contains(&alive) && !removed.contains(&kept));
        assert!(
            exists(&docker, &alive).await,
            "live owner's container stays"
        );
        assert!(exists(&docker, &kept).await, "kept container stays");
        assert!(
            exists(&docker, &foreign).await,
            "unlabelled container stays"
        );
        for name in [&alive, &kept, &foreign] {
            remove_container(&docker, name).await.unwrap();
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn missing_image_fails_fast_with_the_fix() {
        if docker_with(&[]).await.is_none() {
            return;
        }
        let clock = Instant::now();
        let error =
            ContainerServer::start(&options("postgres:99-nonexistent", Flavour::Postgresql))
                .await
                .unwrap_err();
        eprintln!("missing image error after {:?}: {error}", clock.elapsed());
        assert!(
            matches!(error, ServerError::ImageMissing { .. }),
            "{error:?}"
        );
        let text = error.to_string();
        assert!(
            text.contains("docker pull postgres:99-nonexistent"),
            "{text}"
        );
        assert!(text.contains("local:postgresql"), "{text}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn unreachable_docker_is_reported_as_such() {
        // bollard checks that the socket path exists when connecting: give it a file that
        // exists but is no socket (the missing-path case fails in `connect` the same way).
        let not_a_socket =
            std::env::temp_dir().join(format!("alembic-drill-not-a-socket-{}", std::process::id()));
        std::fs::write(&not_a_socket, b"").unwrap();
        let bogus = Docker::connect_with_unix(
            not_a_socket.to_str().unwrap(),
            5,
            bollard::API_DEFAULT_VERSION,
        )
        .unwrap();
        let clock = Instant::now();
        let error = start_with(&bogus, &options(&pg_image(), Flavour::Postgresql))
            .await
            .unwrap_err();
        eprintln!("unreachable after {:?}: {error}", clock.elapsed());
        assert!(
            matches!(error, ServerError::DockerUnreachable { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("DOCKER_HOST"), "{error}");
        let error = list_owned_with(&bogus).await.unwrap_err();
        assert!(
            matches!(error, ServerError::DockerUnreachable { .. }),
            "{error:?}"
        );
        let error = stop_kept_with(&bogus, None).await.unwrap_err();
        assert!(
            matches!(error, ServerError::DockerUnreachable { .. }),
            "{error:?}"
        );
        std::fs::remove_file(&not_a_socket).unwrap();
    }

    /// Containers of this process from `image` whose env has `var`.
    async fn mine_with_env(docker: &Docker, image: &str, var: &str) -> Vec<String> {
        let me = this_process();
        let mut found = Vec::new();
        for summary in list_labelled(docker, &[format!("{LABEL_OWNER_PID}={}", me.pid)])
            .await
            .unwrap()
        {
            let id = summary.id.unwrap();
            if summary.image.as_deref() != Some(image) {
                continue;
            }
            if let Ok(Some(inspected)) = inspect_optional(docker, &id).await {
                let env = inspected.config.and_then(|c| c.env).unwrap_or_default();
                if env_value(&env, var).is_some() {
                    found.push(id);
                }
            }
        }
        found
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn startup_timeout_shows_logs_and_removes_the_container() {
        // PostgreSQL told to listen on 5433 inside while we publish 5432: never answers.
        let image = pg_image();
        let Some(docker) = docker_with(&[&image]).await else {
            return;
        };
        let options = ContainerOptions {
            startup_timeout: Duration::from_secs(5),
            ..ContainerOptions::new(&image, Flavour::Postgresql)
        };
        let plan = Plan {
            docker: &docker,
            options: &options,
            recipe: Recipe {
                args: &["-c", "fsync=off", "-c", "port=5433"],
                ..Recipe::of(Flavour::Postgresql)
            },
            reach: reach(&docker).await,
            what: format!("container {image}"),
        };
        let name_before = fresh_name();
        let clock = Instant::now();
        let error = start_planned(&plan).await.unwrap_err();
        eprintln!("timeout after {:?}: {error}", clock.elapsed());
        let ServerError::StartupTimeout {
            log_tail, seconds, ..
        } = &error
        else {
            panic!("{error:?}");
        };
        assert_eq!(*seconds, 5);
        assert!(log_tail.len() > 1, "{log_tail:?}");
        assert!(log_tail.len() <= LOG_TAIL_LINES + 1, "{log_tail:?}");
        assert!(
            log_tail.iter().any(|line| line.contains("5433")),
            "{log_tail:?}"
        );
        assert!(clock.elapsed() < Duration::from_secs(20));
        // The container was named right after `name_before`: it must be gone.
        let (prefix, n) = name_before.rsplit_once('-').unwrap();
        let n: u32 = n.parse().unwrap();
        for next in n + 1..n + 4 {
            let name = format!("{prefix}-{next}");
            if let Some(inspected) = inspect_optional(&docker, &name).await.unwrap() {
                let env = inspected.config.and_then(|c| c.env).unwrap_or_default();
                assert!(
                    !env.iter().any(|kv| kv.contains("port=5433")),
                    "{name} leaked"
                );
            }
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_server_that_exits_fails_at_once_with_its_logs() {
        // MariaDB asked for as PostgreSQL: no MARIADB_ROOT_PASSWORD, so it exits at once.
        let image = mariadb_image();
        let Some(docker) = docker_with(&[&image]).await else {
            return;
        };
        let clock = Instant::now();
        let error = ContainerServer::start(&options(&image, Flavour::Postgresql))
            .await
            .unwrap_err();
        eprintln!("exited after {:?}: {error}", clock.elapsed());
        assert!(
            matches!(error, ServerError::StartupFailed { .. }),
            "{error:?}"
        );
        assert!(clock.elapsed() < Duration::from_secs(30));
        assert!(
            mine_with_env(&docker, &image, "POSTGRES_PASSWORD")
                .await
                .is_empty()
        );
    }

    #[test]
    fn dropping_a_server_outside_a_runtime_removes_it_without_panicking() {
        let image = pg_image();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let Some(docker) = runtime.block_on(docker_with(&[&image])) else {
            return;
        };
        let server = runtime
            .block_on(ContainerServer::start(&options(
                &image,
                Flavour::Postgresql,
            )))
            .unwrap();
        let id = server.container_id().to_owned();
        drop(runtime);
        drop(server);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        drop(docker);
        runtime.block_on(async {
            let docker = connect().await.unwrap();
            assert!(
                !exists(&docker, &id).await,
                "drop outside a runtime removed it"
            );
        });
    }

    #[test]
    fn pure_helpers() {
        assert_eq!(
            split_image("postgres:16-alpine"),
            ("postgres".into(), "16-alpine".into())
        );
        assert_eq!(
            split_image("postgres"),
            ("postgres".into(), "latest".into())
        );
        assert_eq!(
            split_image("registry:5000/team/postgis"),
            ("registry:5000/team/postgis".into(), "latest".into())
        );
        assert_eq!(
            split_image("registry:5000/team/postgis:16"),
            ("registry:5000/team/postgis".into(), "16".into())
        );
        assert_eq!(
            split_image("postgres@sha256:abc"),
            ("postgres@sha256".into(), "abc".into())
        );
        let env = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            tmpfs_target(
                Flavour::Postgresql,
                &env(&["PGDATA=/var/lib/postgresql/data"]),
                &env(&["/var/lib/postgresql/data"])
            ),
            "/var/lib/postgresql/data"
        );
        assert_eq!(
            tmpfs_target(
                Flavour::Postgresql,
                &env(&["PGDATA=/var/lib/postgresql/18/docker"]),
                &env(&["/var/lib/postgresql"])
            ),
            "/var/lib/postgresql"
        );
        assert_eq!(
            tmpfs_target(Flavour::Postgresql, &[], &[]),
            "/var/lib/postgresql/data"
        );
        assert_eq!(
            tmpfs_target(Flavour::Mysql, &[], &env(&["/var/lib/mysql"])),
            "/var/lib/mysql"
        );
        assert_eq!(
            env_value(&env(&["A=1", "AB=2"]), "AB").as_deref(),
            Some("2")
        );
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(1_738_324_800), "2025-01-31T12:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");

        let local = Reach {
            bind_ip: "127.0.0.1".into(),
            host: "127.0.0.1".into(),
        };
        let pg = Recipe::of(Flavour::Postgresql);
        let a = ContainerOptions::new("local/postgres:15", Flavour::Postgresql);
        let b = ContainerOptions::new("local/postgres:16", Flavour::Postgresql);
        assert_eq!(
            keep_name(&a, &pg, &local),
            keep_name(&a.clone(), &pg, &local)
        );
        assert_ne!(keep_name(&a, &pg, &local), keep_name(&b, &pg, &local));
        assert_eq!(
            keep_name(&a, &pg, &local).len(),
            "alembic-drill-keep-".len() + 12
        );

        let tail = LogTail::new("s3cret");
        tail.push(&LogFrame::StdOut("one\ntw".into()));
        tail.push(&LogFrame::StdErr("password s3cret\n".into()));
        tail.push(&LogFrame::StdOut("o\n".into()));
        assert_eq!(tail.last(5), vec!["one", "password ***", "two"]);
        assert_eq!(tail.last(1), vec!["two"]);
    }

    #[test]
    fn server_handles_can_cross_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<ContainerServer>();
        assert_send_sync::<ContainerOptions>();
        assert_send_sync::<OwnedContainer>();
    }
}
