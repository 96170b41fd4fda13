//! What each flavour's official image needs: env, flags, port, data directory, and the
//! names and labels of the containers made from it.

use std::sync::atomic::{AtomicU32, Ordering};

use super::ContainerOptions;
use super::connect::Reach;
use crate::servers::endpoint::Endpoint;
use crate::servers::ownership::{
    LABEL_HOST, LABEL_KEEP, LABEL_MANAGED, LABEL_OWNER_PID, LABEL_RUN, LABEL_SPEC, this_process,
};
use crate::servers::spec::Flavour;

/// Changes the kept-container names whenever what we pass to the image changes, so an old
/// kept container (other flags) is never attached to by a newer alembic-drill.
const KEEP_RECIPE_VERSION: &str = "1";

/// Env, flags and port for a flavour. Official images only: env vars and `-`-prefixed
/// arguments, which their entrypoints pass to the server binary.
pub(super) struct Recipe {
    pub(super) port: u16,
    pub(super) user: String,
    pub(super) admin_database: Option<String>,
    /// Env vars that carry the admin password (all get the same value).
    pub(super) password_vars: &'static [&'static str],
    pub(super) args: &'static [&'static str],
}

impl Recipe {
    pub(super) fn of(flavour: Flavour) -> Recipe {
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

    pub(super) fn port_key(&self) -> String {
        format!("{}/tcp", self.port)
    }

    pub(super) fn endpoint(
        &self,
        flavour: Flavour,
        host: &str,
        port: u16,
        password: String,
    ) -> Endpoint {
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
pub(super) fn tmpfs_target(
    flavour: Flavour,
    image_env: &[String],
    image_volumes: &[String],
) -> String {
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
pub(super) fn split_image(image: &str) -> (String, String) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') && !name.is_empty() && !tag.is_empty() => {
            (name.to_owned(), tag.to_owned())
        }
        _ => (image.to_owned(), "latest".to_owned()),
    }
}

/// The deterministic name of the kept container for these options.
pub(super) fn keep_name(options: &ContainerOptions, recipe: &Recipe, reach: &Reach) -> String {
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

pub(super) fn fresh_name() -> String {
    static SEQUENCE: AtomicU32 = AtomicU32::new(0);
    let owner = this_process();
    format!(
        "alembic-drill-{}-{}-{}",
        owner.run_id,
        owner.pid,
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    )
}

pub(super) fn labels(options: &ContainerOptions) -> Vec<(String, String)> {
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
