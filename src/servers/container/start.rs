//! Starting a container, or attaching to a kept one, and waiting until a real login works.

use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerInspectResponse, ContainerStateStatusEnum, HostConfig, PortBinding, PortMap,
};
use testcontainers::core::client::ClientError;
use testcontainers::core::error::TestcontainersError;
use testcontainers::core::logs::LogFrame;
use testcontainers::core::{IntoContainerPort, Mount};
use testcontainers::runners::AsyncRunner;
use testcontainers::{GenericImage, ImageExt};

use super::connect::{Reach, ping, reach};
use super::inspect::{
    env_value, inspect, inspect_optional, is_conflict, published_port, short_id, status, status_of,
};
use super::log_tail::{LOG_TAIL_LINES, LogTail};
use super::owned::{reap_stale_with, remove_container};
use super::recipe::{Recipe, fresh_name, keep_name, labels, split_image, tmpfs_target};
use super::{ContainerOptions, ContainerServer};
use crate::servers::endpoint::{Endpoint, random_password};
use crate::servers::error::{Result, ServerError};
use crate::servers::ownership::{LABEL_KEEP, LABEL_MANAGED};
use crate::servers::ready;
use crate::servers::spec::Flavour;

/// How long a missing image may take to pull. A nonexistent tag or an unreachable registry
/// fails within a second or two; this only bounds a registry that does not answer.
const PULL_TIMEOUT: Duration = Duration::from_secs(120);
/// How long we wait for another process to start a kept container it has just created.
const CREATED_GRACE: Duration = Duration::from_secs(15);

pub(super) async fn start_with(
    docker: &Docker,
    options: &ContainerOptions,
) -> Result<ContainerServer> {
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
pub(super) struct Plan<'a> {
    pub(super) docker: &'a Docker,
    pub(super) options: &'a ContainerOptions,
    pub(super) recipe: Recipe,
    pub(super) reach: Reach,
    /// `container <image>`, for messages.
    pub(super) what: String,
}

pub(super) async fn start_planned(plan: &Plan<'_>) -> Result<ContainerServer> {
    let options = plan.options;
    let kept_name = keep_name(options, &plan.recipe, &plan.reach);
    let keep_name = options.keep.then(|| kept_name.clone());
    if let Some(name) = &keep_name
        && let Some(server) = attach(plan, name).await?
    {
        return Ok(server);
    }
    // A run that does not keep its server still uses the running kept container of the
    // same options (`db start`), and leaves it running; a stopped one is left alone.
    if !options.keep
        && let Some(server) = attach_running(plan, &kept_name).await?
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

/// Attaches to the kept container `name` only while it runs: `Ok(None)` when there is
/// none, when it is stopped, or when a container of that name is not alembic-drill's.
async fn attach_running(plan: &Plan<'_>, name: &str) -> Result<Option<ContainerServer>> {
    let Some(inspected) = inspect_optional(plan.docker, name).await? else {
        return Ok(None);
    };
    let labels = inspected
        .config
        .as_ref()
        .and_then(|config| config.labels.clone())
        .unwrap_or_default();
    let ours = labels.get(LABEL_MANAGED).map(String::as_str) == Some("true")
        && labels.get(LABEL_KEEP).map(String::as_str) == Some("true");
    if !ours || status(&inspected) != Some(ContainerStateStatusEnum::RUNNING) {
        return Ok(None);
    }
    attach(plan, name).await
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

pub(super) fn remaining(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(100))
}
