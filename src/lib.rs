//! alembic-drill's engine. Everything here but `py` is plain Rust, tested with `cargo test`.

pub mod drill;
pub mod engine;
pub mod finding;
pub mod graph;
pub mod history;
pub mod render;
pub mod report;
pub mod revision;
pub mod runtime;
pub mod schema;
pub mod seed;
pub mod servers;
#[cfg(test)]
pub(crate) mod test_switches;

#[cfg(feature = "python")]
mod py;
