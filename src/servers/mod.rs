//! Database servers alembic-drill starts and owns (containers, local processes, SQLite
//! files) or attaches to (an external server by URL), and the throwaway databases it
//! creates in them.

pub mod cancel;
pub mod container;
pub mod databases;
pub mod endpoint;
pub mod error;
pub mod inventory;
pub mod local;
pub mod naming;
pub mod owner_mark;
pub mod ownership;
pub mod ready;
pub mod server;
pub mod spec;
pub mod sqlite_folders;

pub use endpoint::Endpoint;
pub use error::ServerError;
pub use server::{Server, StartOptions};
pub use spec::{DatabaseSpec, Flavour};
