//! What the project's models say about a column that the database's own type does not: the
//! values of an enum kept as text (`sa.Enum(..., native_enum=False)`), a JSON document kept
//! in a text column, a UUID kept in a string. Seeded rows follow them, so that a revision
//! which reads such a column meets values production could hold.
//!
//! The hints come from env.py's `target_metadata` (the models at head) and apply where the
//! same table and column exist and the database stores text; a column whose database type
//! already says more (a native enum, `json`, `uuid`) keeps its own.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::check_constraints::{Lit, Rules};
use super::types::Kind;

/// One column's hint. Unknown fields are refused: a typo must not pass for "no hint".
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ColumnHint {
    /// The values an enum allows.
    pub values: Vec<String>,
    /// The column holds JSON documents.
    pub json: bool,
    /// The column holds UUIDs.
    pub uuid: bool,
}

/// Table -> column -> hint.
pub type ModelHints = BTreeMap<String, BTreeMap<String, ColumnHint>>;

/// A UUID's text form (`8-4-4-4-12`).
const UUID_TEXT_LEN: usize = 36;

/// Applies `hint` to a text column's kind and rules; other kinds are left as they are.
pub(crate) fn apply(hint: &ColumnHint, kind: &mut Kind, rules: &mut Rules) {
    let Kind::Text { max } = *kind else {
        return;
    };
    if !hint.values.is_empty() && rules.one_of.is_none() {
        rules.one_of = Some(hint.values.iter().cloned().map(Lit::Str).collect());
    } else if hint.json {
        rules.json = true;
    } else if hint.uuid && max.is_none_or(|max| max >= UUID_TEXT_LEN) {
        *kind = Kind::Uuid;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(max: Option<usize>) -> Kind {
        Kind::Text { max }
    }

    #[test]
    fn an_enum_kept_as_text_takes_its_values() {
        let hint = ColumnHint {
            values: vec!["draft".into(), "published".into()],
            ..ColumnHint::default()
        };
        let (mut kind, mut rules) = (text(Some(20)), Rules::default());
        apply(&hint, &mut kind, &mut rules);
        assert_eq!(
            rules.one_of,
            Some(vec![Lit::Str("draft".into()), Lit::Str("published".into())])
        );
    }

    #[test]
    fn json_and_uuid_in_text_columns() {
        let json = ColumnHint {
            json: true,
            ..ColumnHint::default()
        };
        let (mut kind, mut rules) = (text(None), Rules::default());
        apply(&json, &mut kind, &mut rules);
        assert!(rules.json);

        let uuid = ColumnHint {
            uuid: true,
            ..ColumnHint::default()
        };
        let (mut kind, mut rules) = (text(Some(36)), Rules::default());
        apply(&uuid, &mut kind, &mut rules);
        assert_eq!(kind, Kind::Uuid);
        // Too short for the text form (a 32-character hex column): left alone.
        let (mut kind, mut rules) = (text(Some(32)), Rules::default());
        apply(&uuid, &mut kind, &mut rules);
        assert_eq!(kind, text(Some(32)));
    }

    #[test]
    fn a_column_typed_by_the_database_keeps_its_type() {
        let hint = ColumnHint {
            values: vec!["a".into()],
            json: true,
            uuid: true,
        };
        let (mut kind, mut rules) = (Kind::Int { min: 0, max: 9 }, Rules::default());
        apply(&hint, &mut kind, &mut rules);
        assert_eq!(kind, Kind::Int { min: 0, max: 9 });
        assert_eq!(rules, Rules::default());
        assert!(serde_json::from_str::<ColumnHint>(r#"{"valus": []}"#).is_err());
    }
}
