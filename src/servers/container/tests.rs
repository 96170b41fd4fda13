//! Containers started, attached, listed, reaped and removed on the real Docker engine, with
//! the images `scripts/build-local-db-images.sh` builds.

use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::ContainerConfig;
use testcontainers::core::logs::LogFrame;

use super::connect::{Reach, connect, ping, reach};
use super::inspect::{env_value, format_utc, inspect, inspect_optional};
use super::log_tail::{LOG_TAIL_LINES, LogTail};
use super::owned::{list_labelled, list_owned_with, remove_container, stop_kept_with};
use super::recipe::{Recipe, keep_name, split_image, tmpfs_target};
use super::start::{Plan, start_planned, start_with};
use super::*;
use crate::servers::ownership::{
    LABEL_HOST, LABEL_KEEP, LABEL_MANAGED, LABEL_OWNER_PID, LABEL_RUN, LABEL_SPEC, process_alive,
    this_process,
};
use crate::servers::ready;

const REQUIRE_DOCKER: &str = "ALEMBIC_DRILL_REQUIRE_DOCKER";

/// Tests that start containers of the test images run one at a time: a run without `keep`
/// uses a container another test keeps (by design), which would make the two interfere.
static CONTAINERS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn pg_image() -> String {
    std::env::var("ALEMBIC_DRILL_PG_IMAGE").unwrap_or_else(|_| "local/postgres:15".into())
}

fn mariadb_image() -> String {
    std::env::var("ALEMBIC_DRILL_MARIADB_IMAGE").unwrap_or_else(|_| "local/mariadb:10.11".into())
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
    let _one_at_a_time = CONTAINERS.lock().await;
    check_fresh_server(&pg_image(), Flavour::Postgresql).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_starts_logs_in_and_is_removed() {
    let _one_at_a_time = CONTAINERS.lock().await;
    check_fresh_server(&mariadb_image(), Flavour::Mariadb).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kept_container_is_reused_restarted_and_stopped() {
    let _one_at_a_time = CONTAINERS.lock().await;
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
    let error = ContainerServer::start(&options("postgres:99-nonexistent", Flavour::Postgresql))
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

/// Containers from `image` that carry this run's label (`dev.alembic-drill.run`) and whose
/// config `matches`: what a failed start of this test binary would have leaked.
async fn ours_matching(
    docker: &Docker,
    image: &str,
    matches: impl Fn(&ContainerConfig) -> bool,
) -> Vec<String> {
    let run = &this_process().run_id;
    let mut found = Vec::new();
    for summary in list_labelled(docker, &[format!("{LABEL_RUN}={run}")])
        .await
        .unwrap()
    {
        let id = summary.id.unwrap();
        if summary.image.as_deref() != Some(image) {
            continue;
        }
        if let Ok(Some(inspected)) = inspect_optional(docker, &id).await
            && inspected.config.as_ref().is_some_and(&matches)
        {
            found.push(id);
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn startup_timeout_shows_logs_and_removes_the_container() {
    let _one_at_a_time = CONTAINERS.lock().await;
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
    // The timed-out container is gone: no container of this run runs with port=5433.
    let leaked = ours_matching(&docker, &image, |config| {
        config
            .cmd
            .as_ref()
            .is_some_and(|cmd| cmd.iter().any(|arg| arg == "port=5433"))
    })
    .await;
    assert!(leaked.is_empty(), "leaked: {leaked:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_exits_fails_at_once_with_its_logs() {
    let _one_at_a_time = CONTAINERS.lock().await;
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
    // Failed, not timed out (the timeout is 90 s): it was seen to exit. And removed.
    let leaked = ours_matching(&docker, &image, |config| {
        env_value(
            config.env.as_deref().unwrap_or_default(),
            "POSTGRES_PASSWORD",
        )
        .is_some()
    })
    .await;
    assert!(leaked.is_empty(), "leaked: {leaked:?}");
}

#[test]
fn dropping_a_server_outside_a_runtime_removes_it_without_panicking() {
    let _one_at_a_time = CONTAINERS.blocking_lock();
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
