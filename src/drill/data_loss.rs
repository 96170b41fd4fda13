//! What data a step lost, from table contents read before and after it: the rows and values
//! a downgrade did not bring back (`downgrade-loses-data`), and the columns and tables an
//! upgrade dropped while they held values found nowhere after it (`destroys-data`).
//!
//! Both work on the seeded database's contents (`schema::Contents`), compared as text. A
//! table or column that is gone after a downgrade is a schema trace, which
//! `downgrade-leaves-trace` reports; here only what exists on both sides is compared, so one
//! defect is told once. A NULL that holds a value after the downgrade (a backfill the
//! downgrade keeps) is no loss: nothing was there to lose.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use crate::schema::{Contents, TableContents};

/// Values of one column that differ after the step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnLoss {
    pub column: String,
    /// Rows (present on both sides) whose value differs.
    pub rows: usize,
    /// One of them: the value before, and after (None inside: NULL; the outer None: not
    /// known, for a table without a primary key).
    pub example: (Option<String>, Option<Option<String>>),
}

/// What one table did not get back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableLoss {
    pub table: String,
    /// Rows the table held before.
    pub rows: usize,
    /// Rows before that are not there after.
    pub missing: usize,
    pub columns: Vec<ColumnLoss>,
}

/// A table or some of its columns gone after an upgrade, with values found nowhere else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destroyed {
    pub table: String,
    /// Rows the table held before.
    pub rows: usize,
    /// True when the whole table was dropped.
    pub whole_table: bool,
    /// The columns whose values are found nowhere after the upgrade.
    pub columns: Vec<String>,
}

fn rows(n: usize) -> String {
    if n == 1 {
        "1 row".to_owned()
    } else {
        format!("{n} rows")
    }
}

/// A value for a message: quoted, shortened, NULL spelt out.
fn shown(value: Option<&str>) -> String {
    match value {
        None => "NULL".to_owned(),
        Some(v) if v.chars().count() > 40 => {
            format!("'{}...'", v.chars().take(37).collect::<String>())
        }
        Some(v) => format!("'{v}'"),
    }
}

impl fmt::Display for TableLoss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if self.missing > 0 {
            parts.push(format!("{} of {} missing", self.missing, rows(self.rows)));
        }
        for column in &self.columns {
            let (before, after) = &column.example;
            let example = match after {
                Some(after) => format!(
                    "{} -> {}",
                    shown(before.as_deref()),
                    shown(after.as_deref())
                ),
                None => format!("{} is gone", shown(before.as_deref())),
            };
            parts.push(format!(
                "column {} differs in {} of {} (e.g. {example})",
                column.column,
                column.rows,
                rows(self.rows)
            ));
        }
        write!(f, "{}: {}", self.table, parts.join("; "))
    }
}

impl fmt::Display for Destroyed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let columns = self.columns.join(", ");
        if self.whole_table {
            write!(
                f,
                "table {} is dropped with {} (the values of {columns} are found nowhere after the upgrade)",
                self.table,
                rows(self.rows)
            )
        } else {
            let noun = if self.columns.len() == 1 {
                "column"
            } else {
                "columns"
            };
            write!(
                f,
                "{noun} {columns} of {} dropped with values in {} (found nowhere after the upgrade)",
                self.table,
                rows(self.rows)
            )
        }
    }
}

/// The rows and values of `before` that `after` does not hold, per table. Tables keyed in
/// `keys` (their primary key) are compared row by row; the others as multisets, per column.
/// A table read incomplete on either side is not compared.
pub fn not_restored(
    before: &Contents,
    after: &Contents,
    keys: &BTreeMap<String, Vec<String>>,
) -> Vec<TableLoss> {
    let mut losses = Vec::new();
    for (name, old) in before {
        let Some(new) = after.get(name) else {
            continue;
        };
        if !old.complete || !new.complete || old.rows.is_empty() {
            continue;
        }
        let shared: Vec<(usize, usize, &str)> = old
            .columns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| new.position(c).map(|j| (i, j, c.as_str())))
            .collect();
        let key: Option<Vec<(usize, usize)>> =
            keys.get(name).filter(|k| !k.is_empty()).and_then(|k| {
                k.iter()
                    .map(|c| shared.iter().find(|s| s.2 == c).map(|s| (s.0, s.1)))
                    .collect()
            });
        let loss = match key {
            Some(key) => keyed_loss(name, old, new, &shared, &key),
            None => unkeyed_loss(name, old, new, &shared),
        };
        if loss.missing > 0 || !loss.columns.is_empty() {
            losses.push(loss);
        }
    }
    losses
}

/// One spelling per JSON document: the same document re-serialised by a type round trip
/// (`json` -> `jsonb` -> `json`, text -> JSON) is the same data.
fn canonical(value: &Option<String>) -> Option<String> {
    let text = value.as_deref()?;
    if text.trim_start().starts_with(['{', '['])
        && let Ok(document) = serde_json::from_str::<serde_json::Value>(text)
    {
        return Some(document.to_string());
    }
    Some(text.to_owned())
}

fn keyed_loss(
    name: &str,
    old: &TableContents,
    new: &TableContents,
    shared: &[(usize, usize, &str)],
    key: &[(usize, usize)],
) -> TableLoss {
    let index: HashMap<Vec<&Option<String>>, &Vec<Option<String>>> = new
        .rows
        .iter()
        .map(|row| (key.iter().map(|(_, j)| &row[*j]).collect(), row))
        .collect();
    let mut missing = 0;
    let mut columns: Vec<ColumnLoss> = Vec::new();
    for row in &old.rows {
        let wanted: Vec<&Option<String>> = key.iter().map(|(i, _)| &row[*i]).collect();
        let Some(found) = index.get(&wanted) else {
            missing += 1;
            continue;
        };
        for (i, j, column) in shared {
            // A NULL filled by the upgrade (a backfill) and kept by the downgrade lost
            // nothing.
            if key.iter().any(|(k, _)| k == i)
                || row[*i].is_none()
                || row[*i] == found[*j]
                || canonical(&row[*i]) == canonical(&found[*j])
            {
                continue;
            }
            match columns.iter_mut().find(|c| c.column == *column) {
                Some(loss) => loss.rows += 1,
                None => columns.push(ColumnLoss {
                    column: (*column).to_owned(),
                    rows: 1,
                    example: (row[*i].clone(), Some(found[*j].clone())),
                }),
            }
        }
    }
    TableLoss {
        table: name.to_owned(),
        rows: old.rows.len(),
        missing,
        columns,
    }
}

fn unkeyed_loss(
    name: &str,
    old: &TableContents,
    new: &TableContents,
    shared: &[(usize, usize, &str)],
) -> TableLoss {
    let missing = old.rows.len().saturating_sub(new.rows.len());
    let mut columns = Vec::new();
    for (i, j, column) in shared {
        let mut left: HashMap<Option<String>, usize> = HashMap::new();
        for row in &new.rows {
            *left.entry(canonical(&row[*j])).or_default() += 1;
        }
        let mut unmatched = Vec::new();
        for row in &old.rows {
            match left.get_mut(&canonical(&row[*i])) {
                Some(n) if *n > 0 => *n -= 1,
                _ if row[*i].is_none() => {}
                _ => unmatched.push(&row[*i]),
            }
        }
        // Missing rows take their values with them: those are told as missing.
        let differing = unmatched.len().saturating_sub(missing);
        if differing > 0 {
            columns.push(ColumnLoss {
                column: (*column).to_owned(),
                rows: differing,
                example: (unmatched[0].clone(), None),
            });
        }
    }
    TableLoss {
        table: name.to_owned(),
        rows: old.rows.len(),
        missing,
        columns,
    }
}

/// One spelling per number, so that a value moved into a column of another numeric type
/// (`2` into a `numeric(10, 2)`: `2.00`) is still recognised.
fn normalized(value: &str) -> String {
    match value.trim().parse::<f64>() {
        Ok(number) if number.is_finite() => number.to_string(),
        _ => value.to_owned(),
    }
}

/// The tables and columns of `before` that hold values and are gone from `after`, keeping
/// only those whose values are found in no column of `after` (a copy, a move into another
/// table or a rename keeps them).
pub fn destroyed(before: &Contents, after: &Contents) -> Vec<Destroyed> {
    let everywhere: Vec<HashSet<String>> = after
        .values()
        .flat_map(|table| {
            (0..table.columns.len()).map(move |j| {
                table
                    .rows
                    .iter()
                    .filter_map(|row| row[j].as_deref().map(normalized))
                    .collect()
            })
        })
        .collect();
    let survives = |values: &HashSet<String>| everywhere.iter().any(|set| values.is_subset(set));
    let mut out = Vec::new();
    for (name, old) in before {
        if !old.complete || old.rows.is_empty() {
            continue;
        }
        let new = after.get(name);
        if new.is_some_and(|t| !t.complete) {
            continue;
        }
        let lost: Vec<String> = old
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| new.is_none_or(|t| t.position(c).is_none()))
            .filter_map(|(i, c)| {
                let values: HashSet<String> = old
                    .rows
                    .iter()
                    .filter_map(|row| row[i].as_deref().map(normalized))
                    .collect();
                (!values.is_empty() && !survives(&values)).then(|| c.clone())
            })
            .collect();
        if !lost.is_empty() {
            out.push(Destroyed {
                table: name.clone(),
                rows: old.rows.len(),
                whole_table: new.is_none(),
                columns: lost,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(columns: &[&str], rows: &[&[Option<&str>]]) -> TableContents {
        TableContents {
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(|v| v.map(str::to_owned)).collect())
                .collect(),
            complete: true,
        }
    }

    fn contents(tables: Vec<(&str, TableContents)>) -> Contents {
        tables.into_iter().map(|(n, t)| (n.to_owned(), t)).collect()
    }

    fn keyed(table: &str, columns: &[&str]) -> BTreeMap<String, Vec<String>> {
        BTreeMap::from([(
            table.to_owned(),
            columns.iter().map(|c| (*c).to_owned()).collect(),
        )])
    }

    #[test]
    fn a_column_brought_back_empty_is_named_with_its_rows() {
        let before = contents(vec![(
            "books",
            table(
                &["id", "title"],
                &[&[Some("1"), Some("title_1")], &[Some("2"), Some("title_2")]],
            ),
        )]);
        let after = contents(vec![(
            "books",
            table(&["id", "title"], &[&[Some("2"), None], &[Some("1"), None]]),
        )]);
        let losses = not_restored(&before, &after, &keyed("books", &["id"]));
        assert_eq!(losses.len(), 1);
        assert_eq!(
            losses[0].to_string(),
            "books: column title differs in 2 of 2 rows (e.g. 'title_1' -> NULL)"
        );
        assert!(not_restored(&before, &before, &keyed("books", &["id"])).is_empty());
    }

    #[test]
    fn rows_not_moved_back_are_missing() {
        let before = contents(vec![(
            "authors",
            table(
                &["id", "name"],
                &[&[Some("1"), Some("a")], &[Some("2"), Some("b")]],
            ),
        )]);
        let after = contents(vec![("authors", table(&["id", "name"], &[]))]);
        let keyed_loss = not_restored(&before, &after, &keyed("authors", &["id"]));
        assert_eq!(keyed_loss[0].to_string(), "authors: 2 of 2 rows missing");
        let unkeyed = not_restored(&before, &after, &BTreeMap::new());
        assert_eq!(unkeyed[0].missing, 2);
        assert!(unkeyed[0].columns.is_empty(), "{:?}", unkeyed[0]);
    }

    #[test]
    fn order_extra_rows_and_gone_columns_are_not_losses() {
        let before = contents(vec![
            (
                "t",
                table(&["a", "b"], &[&[Some("1"), Some("x")], &[Some("2"), None]]),
            ),
            ("gone", table(&["a"], &[&[Some("1")]])),
        ]);
        let after = contents(vec![(
            "t",
            table(&["a"], &[&[Some("3")], &[Some("2")], &[Some("1")]]),
        )]);
        assert!(not_restored(&before, &after, &BTreeMap::new()).is_empty());
        assert!(not_restored(&before, &after, &keyed("t", &["a"])).is_empty());
    }

    #[test]
    fn an_unkeyed_table_counts_differing_values_per_column() {
        let before = contents(vec![(
            "t",
            table(&["n"], &[&[Some("1.5")], &[Some("2.5")], &[Some("3")]]),
        )]);
        let after = contents(vec![(
            "t",
            table(&["n"], &[&[Some("2")], &[Some("3")], &[Some("3")]]),
        )]);
        let losses = not_restored(&before, &after, &BTreeMap::new());
        assert_eq!(
            losses[0].to_string(),
            "t: column n differs in 2 of 3 rows (e.g. '1.5' is gone)"
        );
    }

    #[test]
    fn a_json_document_spelled_again_is_no_loss() {
        let before = contents(vec![(
            "t",
            table(
                &["id", "doc"],
                &[&[Some("1"), Some(r#"{"b":1,"a":[1, 2]}"#)]],
            ),
        )]);
        let after = contents(vec![(
            "t",
            table(
                &["id", "doc"],
                &[&[Some("1"), Some(r#"{"a": [1,2], "b": 1}"#)]],
            ),
        )]);
        assert!(not_restored(&before, &after, &keyed("t", &["id"])).is_empty());
        assert!(not_restored(&before, &after, &BTreeMap::new()).is_empty());
        let changed = contents(vec![(
            "t",
            table(&["id", "doc"], &[&[Some("1"), Some(r#"{"a": [1,2]}"#)]]),
        )]);
        assert_eq!(
            not_restored(&before, &changed, &keyed("t", &["id"])).len(),
            1
        );
    }

    #[test]
    fn a_backfilled_null_is_no_loss() {
        let before = contents(vec![(
            "t",
            table(
                &["id", "nick"],
                &[&[Some("1"), None], &[Some("2"), Some("b")]],
            ),
        )]);
        let after = contents(vec![(
            "t",
            table(
                &["id", "nick"],
                &[&[Some("1"), Some("n")], &[Some("2"), Some("b")]],
            ),
        )]);
        assert!(not_restored(&before, &after, &keyed("t", &["id"])).is_empty());
        assert!(not_restored(&before, &after, &BTreeMap::new()).is_empty());
    }

    #[test]
    fn incomplete_tables_are_not_compared() {
        let mut partial = table(&["id"], &[&[Some("1")]]);
        partial.complete = false;
        let before = contents(vec![("t", partial)]);
        let after = contents(vec![("t", table(&["id"], &[]))]);
        assert!(not_restored(&before, &after, &BTreeMap::new()).is_empty());
        assert!(destroyed(&before, &contents(vec![])).is_empty());
    }

    #[test]
    fn a_dropped_column_or_table_with_values_found_nowhere_is_destroyed() {
        let before = contents(vec![
            (
                "users",
                table(
                    &["id", "email", "legacy"],
                    &[
                        &[Some("1"), Some("e_1"), Some("l_1")],
                        &[Some("2"), Some("e_2"), None],
                    ],
                ),
            ),
            (
                "notes",
                table(&["id", "body"], &[&[Some("1"), Some("b_1")]]),
            ),
        ]);
        let after = contents(vec![(
            "users",
            table(
                &["id", "email"],
                &[&[Some("1"), Some("e_1")], &[Some("2"), Some("e_2")]],
            ),
        )]);
        let lost: Vec<String> = destroyed(&before, &after)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lost,
            [
                "table notes is dropped with 1 row (the values of body are found nowhere after the upgrade)",
                "column legacy of users dropped with values in 2 rows (found nowhere after the upgrade)",
            ]
        );
    }

    #[test]
    fn copied_moved_renamed_or_empty_data_is_not_destroyed() {
        let before = contents(vec![
            (
                "users",
                table(
                    &["id", "old_name", "empty"],
                    &[&[Some("1"), Some("n_1"), None]],
                ),
            ),
            (
                "prices",
                table(&["id", "amount"], &[&[Some("1"), Some("2")]]),
            ),
        ]);
        let after = contents(vec![
            (
                "users",
                table(&["id", "name"], &[&[Some("1"), Some("n_1")]]),
            ),
            (
                "costs",
                table(&["id", "amount"], &[&[Some("1"), Some("2.00")]]),
            ),
        ]);
        assert_eq!(destroyed(&before, &after), []);
    }
}
