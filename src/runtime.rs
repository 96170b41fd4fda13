//! The one tokio runtime of the process. Servers, the Docker client and sqlx pools belong
//! to the runtime that made them, so there is exactly one and it is never dropped.

use std::sync::OnceLock;

use tokio::runtime::Runtime;

static RUNTIME: OnceLock<(u32, Runtime)> = OnceLock::new();

/// The process's runtime, created on first use.
///
/// After `fork()` the child inherits the runtime object but not its worker threads, and
/// every future would hang; the recorded process id turns that into a clear error.
pub fn runtime() -> Result<&'static Runtime, String> {
    let (pid, runtime) = RUNTIME.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("alembic-drill")
            .enable_all()
            .build()
            .expect("cannot start the tokio runtime");
        (std::process::id(), runtime)
    });
    if *pid != std::process::id() {
        return Err(
            "alembic-drill's runtime was started before this process was forked; \
                    start servers in the child process (pytest-xdist workers do) or use \
                    the 'spawn' start method"
                .to_owned(),
        );
    }
    Ok(runtime)
}
