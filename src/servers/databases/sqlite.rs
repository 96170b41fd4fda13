//! SQLite: a database is a file in the server's temporary folder; a clone is a file copy.

use std::path::{Path, PathBuf};

use crate::servers::error::{Result, ServerError};

pub fn path_of(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.sqlite3"))
}

/// Creates an empty SQLite database file (a valid, zero-table database).
pub async fn create(dir: &Path, name: &str) -> Result<()> {
    let path = path_of(dir, name);
    if path.exists() {
        return Err(ServerError::Other(format!(
            "database {name} already exists"
        )));
    }
    tokio::fs::write(&path, b"")
        .await
        .map_err(|e| ServerError::io("creating", &path, e))
}

pub async fn clone(dir: &Path, template: &str, name: &str) -> Result<()> {
    let source = path_of(dir, template);
    if !source.exists() {
        return Err(ServerError::NoSuchDatabase {
            name: template.to_owned(),
            server: dir.display().to_string(),
        });
    }
    let target = path_of(dir, name);
    tokio::fs::copy(&source, &target)
        .await
        .map_err(|e| ServerError::io("copying to", &target, e))?;
    Ok(())
}

pub async fn drop(dir: &Path, name: &str) -> Result<()> {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let path = PathBuf::from(format!("{}{suffix}", path_of(dir, name).display()));
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ServerError::io("removing", &path, e)),
        }
    }
    Ok(())
}

pub fn list(dir: &Path, prefix: &str) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| ServerError::io("listing", dir, e))?;
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if let Some(name) = file.strip_suffix(".sqlite3")
            && name.starts_with(prefix)
        {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}
