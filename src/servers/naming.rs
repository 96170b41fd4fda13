//! Names of the throwaway databases: a recognisable prefix, so that alembic-drill can prove
//! a database is its own before it drops it, and a person can tell them apart at a glance.

use super::error::{Result, ServerError};

/// Every database alembic-drill creates starts with this.
pub const PREFIX: &str = "drill_";

/// The longest name every engine accepts (PostgreSQL: 63 bytes, MySQL: 64 characters).
const MAX_LEN: usize = 63;

/// `drill_<run>_<n>`: unique per process run and per database.
pub fn generated(run_id: &str, n: u32) -> String {
    format!("{PREFIX}{run_id}_{n:04}")
}

/// A name asked for by the caller, made ours: the prefix is added when missing, and only
/// lowercase letters, digits and underscores are accepted (safe to quote in every engine
/// and as a file name).
pub fn requested(name: &str) -> Result<String> {
    let full = if name.starts_with(PREFIX) {
        name.to_owned()
    } else {
        format!("{PREFIX}{name}")
    };
    let valid = full.len() <= MAX_LEN
        && full
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(full)
    } else {
        Err(ServerError::Other(format!(
            "invalid database name {name:?}: use at most {} lowercase letters, digits and \
             underscores",
            MAX_LEN - PREFIX.len()
        )))
    }
}

/// Refuses any name alembic-drill could not have created.
pub fn ensure_ours(name: &str) -> Result<()> {
    if name.starts_with(PREFIX) && requested(name).is_ok() {
        Ok(())
    } else {
        Err(ServerError::NotOurs {
            name: name.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_prefix() {
        assert_eq!(generated("1a2b3c4d", 7), "drill_1a2b3c4d_0007");
        assert_eq!(requested("template").unwrap(), "drill_template");
        assert_eq!(requested("drill_x").unwrap(), "drill_x");
        assert!(requested("Robert'); DROP TABLE students;--").is_err());
        assert!(requested(&"a".repeat(80)).is_err());
    }

    #[test]
    fn only_our_names_may_be_dropped() {
        assert!(ensure_ours("drill_1a2b3c4d_0001").is_ok());
        for name in [
            "postgres",
            "app_production",
            "mysql",
            "drill_`x`",
            "DRILL_X",
        ] {
            assert!(
                matches!(ensure_ours(name), Err(ServerError::NotOurs { .. })),
                "{name}"
            );
        }
    }
}
