//! Why a revision target could not be turned into revisions.

use thiserror::Error;

/// Errors from resolving targets and computing paths. Broken histories are never an error
/// here: they are findings from [`super::RevisionGraph::check`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum GraphError {
    #[error("no revision id, id prefix or branch label matches '{target}'")]
    UnknownRevision { target: String },

    /// `candidates` holds at most the first ten matches.
    #[error("'{target}' is ambiguous: it matches {}; give more of the id", .candidates.join(", "))]
    AmbiguousRevision {
        target: String,
        candidates: Vec<String>,
    },

    #[error("'{target}' has {} heads: {}; name one of them", .heads.len(), .heads.join(", "))]
    MultipleHeads { target: String, heads: Vec<String> },

    #[error("'{target}' has no head: its revisions loop back on themselves")]
    NoHead { target: String },

    #[error(
        "revision '{from}' is not an ancestor of '{to}', so no upgrade leads from one to the other"
    )]
    NotAncestor { from: String, to: String },
}
