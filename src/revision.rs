//! What the loader learned about one revision script. Plain data: the loader fills it in
//! through the Python interpreter, the graph and the checks read it without Python.

use serde::{Deserialize, Serialize};

/// The shape of an `upgrade()` or `downgrade()` function, read from the script's syntax tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum BodyKind {
    /// Does real work (or is built in a way the syntax tree cannot judge).
    #[default]
    Implemented,
    /// Only `pass`, `...` or a docstring.
    Stub,
    /// Raises `NotImplementedError` on purpose.
    Irreversible,
    /// The module defines no such function.
    Missing,
}

/// One of the two migration functions of a script.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionInfo {
    pub kind: BodyKind,
    /// 1-based line of the `def`, when the function is a plain module-level definition.
    #[serde(default)]
    pub line: Option<u32>,
    /// Its Alembic operations only migrate data (or clean up with `if_exists=True`):
    /// there is no schema change for a downgrade to undo.
    #[serde(default)]
    pub data_only: bool,
    /// A comment inside it says why it is as it is (a deliberate no-op).
    #[serde(default)]
    pub explained: bool,
    /// Check ids its `# alembic-drill: ignore[...]` comments name (on the `def` line or
    /// on an operation's lines): what the author declared intended in this function.
    #[serde(default)]
    pub ignores: Vec<String>,
}

/// One finding of the operation lint, read from the syntax tree of `upgrade()` and
/// `downgrade()` by the loader (`_operations.py`), not yet declared intended by an
/// `ignore` comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationNote {
    /// The static check id, e.g. `drop-column` (a `StaticCheck` the graph checks parse).
    pub check: String,
    /// 1-based line of the operation.
    #[serde(default)]
    pub line: Option<u32>,
    /// What the operation does to a database and what to do about it.
    pub message: String,
}

/// One revision script as loaded by the interpreter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionMeta {
    /// The `revision` identifier.
    pub id: String,
    /// `down_revision`, normalised to a list (empty for a base, several for a merge).
    #[serde(default)]
    pub down_revisions: Vec<String>,
    #[serde(default)]
    pub branch_labels: Vec<String>,
    /// `depends_on`: revision ids or branch labels this revision needs applied first.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// The script file, as the loader found it.
    pub path: String,
    /// The module docstring (Alembic's revision message), if any.
    #[serde(default)]
    pub doc: Option<String>,
    /// Line of the `revision = ...` assignment.
    #[serde(default)]
    pub revision_line: Option<u32>,
    /// Line of the `down_revision = ...` assignment.
    #[serde(default)]
    pub down_revision_line: Option<u32>,
    /// Line of the `depends_on = ...` assignment.
    #[serde(default)]
    pub depends_on_line: Option<u32>,
    #[serde(default)]
    pub upgrade: FunctionInfo,
    #[serde(default)]
    pub downgrade: FunctionInfo,
    /// What the operation lint found in the two functions.
    #[serde(default)]
    pub operations: Vec<OperationNote>,
}

impl RevisionMeta {
    /// A merge revision joins two or more parents.
    pub fn is_merge(&self) -> bool {
        self.down_revisions.len() > 1
    }

    /// A base revision has no parent.
    pub fn is_base(&self) -> bool {
        self.down_revisions.is_empty()
    }
}

/// A script that could not be loaded: it never becomes a revision, only a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptError {
    pub path: String,
    #[serde(default)]
    pub line: Option<u32>,
    /// What went wrong, e.g. "SyntaxError: invalid syntax".
    pub message: String,
}
