//! Reading what Docker reports: containers, their state, ports and env, and its errors.

use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerInspectResponse, ContainerStateStatusEnum, ContainerSummary, PortBinding,
};
use std::net::Ipv4Addr;
use testcontainers::core::client::ClientError;
use testcontainers::core::error::TestcontainersError;

use crate::servers::error::{Result, ServerError};

pub(super) async fn inspect_optional(
    docker: &Docker,
    id: &str,
) -> Result<Option<ContainerInspectResponse>> {
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

pub(super) async fn inspect(docker: &Docker, id: &str) -> Result<ContainerInspectResponse> {
    inspect_optional(docker, id)
        .await?
        .ok_or_else(|| ServerError::Docker(format!("container {} disappeared", short_id(id))))
}

pub(super) fn status(inspected: &ContainerInspectResponse) -> Option<ContainerStateStatusEnum> {
    inspected.state.as_ref()?.status
}

/// The host port of `port_key` (`5432/tcp`), preferring an IPv4 binding.
pub(super) fn published_port(inspected: &ContainerInspectResponse, port_key: &str) -> Option<u16> {
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

pub(super) fn env_value(env: &[String], var: &str) -> Option<String> {
    env.iter()
        .find_map(|kv| kv.strip_prefix(var)?.strip_prefix('='))
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
}

pub(super) fn summary_name(summary: &ContainerSummary) -> Option<String> {
    summary
        .names
        .as_ref()?
        .first()
        .map(|name| name.trim_start_matches('/').to_owned())
}

pub(super) fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

pub(super) fn status_of(error: &BollardError) -> Option<u16> {
    match error {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

pub(super) fn is_conflict(error: &TestcontainersError) -> bool {
    matches!(
        error,
        TestcontainersError::Client(ClientError::CreateContainer(error))
            if status_of(error) == Some(409)
    )
}

pub(super) fn is_gone(error: &TestcontainersError) -> bool {
    matches!(
        error,
        TestcontainersError::Client(ClientError::RemoveContainer(error))
            if matches!(status_of(error), Some(404 | 409))
    )
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (civil-from-days, no date crate needed).
pub(super) fn format_utc(seconds: i64) -> String {
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
