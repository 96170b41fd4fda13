//! Connecting to the Docker engine, and where published ports are bound and reached.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use bollard::Docker;

use crate::servers::error::{Result, ServerError};

/// How long the engine may take to answer a ping before we call it unreachable.
const PING_TIMEOUT: Duration = Duration::from_secs(10);

/// The bollard client testcontainers itself uses (same DOCKER_HOST / properties lookup).
pub(super) async fn connect() -> Result<Docker> {
    testcontainers::core::client::docker_client_instance()
        .await
        .map_err(|error| ServerError::DockerUnreachable {
            cause: error.to_string(),
        })
}

pub(super) async fn ping(docker: &Docker) -> Result<()> {
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
pub(super) struct Reach {
    pub(super) bind_ip: String,
    pub(super) host: String,
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
pub(super) async fn reach(docker: &Docker) -> Reach {
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
