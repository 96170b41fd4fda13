//! Listing and removing the containers that carry alembic-drill's labels.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{ContainerInspectResponse, ContainerSummary};
use bollard::query_parameters::{ListContainersOptionsBuilder, RemoveContainerOptionsBuilder};

use super::OwnedContainer;
use super::connect::{Reach, ping, reach};
use super::inspect::{
    env_value, format_utc, inspect_optional, published_port, short_id, status_of, summary_name,
};
use super::recipe::Recipe;
use crate::servers::endpoint::Endpoint;
use crate::servers::error::{Result, ServerError};
use crate::servers::ownership::{
    LABEL_HOST, LABEL_KEEP, LABEL_MANAGED, LABEL_OWNER_PID, LABEL_SPEC, process_alive, this_process,
};
use crate::servers::spec::Flavour;

pub(super) async fn list_labelled(
    docker: &Docker,
    labels: &[String],
) -> Result<Vec<ContainerSummary>> {
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

pub(super) async fn list_owned_with(docker: &Docker) -> Result<Vec<OwnedContainer>> {
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

pub(super) async fn reap_stale_with(docker: &Docker) -> Result<Vec<String>> {
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

pub(super) async fn stop_kept_with(docker: &Docker, image: Option<&str>) -> Result<Vec<String>> {
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
pub(super) async fn remove_container(docker: &Docker, id: &str) -> Result<()> {
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
