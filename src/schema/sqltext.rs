//! Small, quote-aware text helpers over SQL: normalising what catalogs print, recognising
//! engine-invented names, and the lexical scan SQLite needs because it exposes CHECK
//! constraints and index expressions only as the original DDL text. Quoting identifiers is
//! `Engine::quote_ident`.

/// Collapses runs of whitespace outside quotes to one space, trims, drops trailing `;`.
/// Catalogs pretty-print (PostgreSQL view definitions span lines) and SQLite keeps the DDL as
/// typed, so whitespace alone must never make two definitions differ.
pub(crate) fn collapse_ws(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut pending_space = false;
    for ch in sql.chars() {
        if let Some(q) = quote {
            out.push(ch);
            if ch == q {
                quote = None;
            }
            continue;
        }
        if ch.is_whitespace() {
            pending_space = true;
            continue;
        }
        if pending_space && !out.is_empty() {
            out.push(' ');
        }
        pending_space = false;
        if matches!(ch, '\'' | '"' | '`') {
            quote = Some(ch);
        }
        out.push(ch);
    }
    while out.ends_with(';') || out.ends_with(' ') {
        out.pop();
    }
    out
}

/// `'a'::character varying` -> `'a'`. PostgreSQL prints the cast to the column's own type on
/// every string default, which only adds noise to a diff line; anything beyond a plain literal
/// with a plain cast is kept verbatim.
pub(crate) fn strip_literal_cast(expr: &str) -> String {
    let bytes = expr.as_bytes();
    if bytes.first() != Some(&b'\'') {
        return expr.to_owned();
    }
    let mut i = 1;
    let end = loop {
        match bytes.get(i) {
            None => return expr.to_owned(),
            Some(b'\'') if bytes.get(i + 1) == Some(&b'\'') => i += 2,
            Some(b'\'') => break i + 1,
            Some(_) => i += 1,
        }
    };
    let rest = &expr[end..];
    let plain_cast = rest.strip_prefix("::").is_some_and(|ty| {
        !ty.is_empty()
            && ty
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " _\"()[],.".contains(c))
    });
    if plain_cast {
        expr[..end].to_owned()
    } else {
        expr.to_owned()
    }
}

/// Whether `name` looks like PostgreSQL's own choice for a constraint or index of `table`:
/// `{table}_..._{suffix}` with an optional collision counter. PostgreSQL truncates these to 63
/// bytes, so a 63-byte name only needs the suffix.
pub(crate) fn is_pg_generated_name(name: &str, table: &str, suffix: &str) -> bool {
    let stem = name.trim_end_matches(|c: char| c.is_ascii_digit());
    let Some(head) = stem.strip_suffix(suffix) else {
        return false;
    };
    let Some(head) = head.strip_suffix('_') else {
        return false;
    };
    name.len() >= 63 || head == table || head.starts_with(&format!("{table}_"))
}

/// Whether `name` is MySQL's choice for an unnamed key on `column`: the column name, or the
/// column name with a `_2`, `_3`... counter.
pub(crate) fn is_mysql_column_generated_name(name: &str, column: &str) -> bool {
    if name.eq_ignore_ascii_case(column) {
        return true;
    }
    let (Some(head), Some(tail)) = (name.get(..column.len()), name.get(column.len()..)) else {
        return false;
    };
    head.eq_ignore_ascii_case(column)
        && tail
            .strip_prefix('_')
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Word,
    QuotedIdent,
    Str,
    Open,
    Close,
    Comma,
    Other,
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

/// Splits SQL into tokens, skipping comments and keeping quoted strings and identifiers whole,
/// so that keywords inside them are never mistaken for structure.
fn tokenize(sql: &str) -> Vec<Token> {
    let bytes = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    let skip_quoted = |mut j: usize, close: u8| -> usize {
        while j < bytes.len() {
            if bytes[j] == close {
                // A doubled closing quote is an escaped quote, except for `]`.
                if close != b']' && bytes.get(j + 1) == Some(&close) {
                    j += 2;
                    continue;
                }
                return j + 1;
            }
            j += 1;
        }
        bytes.len()
    };
    while i < bytes.len() {
        let b = bytes[i];
        let start = i;
        let kind = match b {
            _ if b.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i = (i + 2).min(bytes.len());
                continue;
            }
            b'\'' => {
                i = skip_quoted(i + 1, b'\'');
                Kind::Str
            }
            b'"' | b'`' => {
                i = skip_quoted(i + 1, b);
                Kind::QuotedIdent
            }
            b'[' => {
                i = skip_quoted(i + 1, b']');
                Kind::QuotedIdent
            }
            b'(' => {
                i += 1;
                Kind::Open
            }
            b')' => {
                i += 1;
                Kind::Close
            }
            b',' => {
                i += 1;
                Kind::Comma
            }
            _ if b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80 => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric()
                        || bytes[i] == b'_'
                        || bytes[i] == b'$'
                        || bytes[i] >= 0x80)
                {
                    i += 1;
                }
                Kind::Word
            }
            _ => {
                i += 1;
                Kind::Other
            }
        };
        tokens.push(Token {
            kind,
            start,
            end: i,
        });
    }
    tokens
}

fn is_word(sql: &str, token: &Token, word: &str) -> bool {
    token.kind == Kind::Word && sql[token.start..token.end].eq_ignore_ascii_case(word)
}

fn unquote(sql: &str, token: &Token) -> String {
    let text = &sql[token.start..token.end];
    if token.kind != Kind::QuotedIdent || text.len() < 2 {
        return text.to_owned();
    }
    let (open, inner) = (text.as_bytes()[0], &text[1..text.len() - 1]);
    match open {
        b'"' => inner.replace("\"\"", "\""),
        b'`' => inner.replace("``", "`"),
        _ => inner.to_owned(),
    }
}

/// Index of the `)` matching the `(` at `open`, or the last token if unbalanced.
fn matching_close(tokens: &[Token], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        match t.kind {
            Kind::Open => depth += 1,
            Kind::Close => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    tokens.len() - 1
}

/// CHECK constraints of a SQLite `CREATE TABLE` statement: `(name if given, "(expr)")`.
pub(crate) fn sqlite_checks(create_sql: &str) -> Vec<(Option<String>, String)> {
    let tokens = tokenize(create_sql);
    let mut checks = Vec::new();
    for i in 0..tokens.len() {
        if !is_word(create_sql, &tokens[i], "CHECK")
            || tokens.get(i + 1).map(|t| t.kind) != Some(Kind::Open)
        {
            continue;
        }
        let close = matching_close(&tokens, i + 1);
        let expr = &create_sql[tokens[i + 1].end..tokens[close].start];
        let name = (i >= 2
            && is_word(create_sql, &tokens[i - 2], "CONSTRAINT")
            && matches!(tokens[i - 1].kind, Kind::Word | Kind::QuotedIdent))
        .then(|| unquote(create_sql, &tokens[i - 1]));
        checks.push((name, format!("({})", collapse_ws(expr))));
    }
    checks
}

/// Whether a SQLite `CREATE TABLE` uses AUTOINCREMENT, which changes rowid reuse and so is
/// part of the schema even though no pragma reports it.
pub(crate) fn sqlite_has_autoincrement(create_sql: &str) -> bool {
    tokenize(create_sql)
        .iter()
        .any(|t| is_word(create_sql, t, "AUTOINCREMENT"))
}

/// Whether a SQLite `CREATE TABLE` ends in `WITHOUT ROWID`.
pub(crate) fn sqlite_without_rowid(create_sql: &str) -> bool {
    let tokens = tokenize(create_sql);
    tokens
        .windows(2)
        .any(|w| is_word(create_sql, &w[0], "WITHOUT") && is_word(create_sql, &w[1], "ROWID"))
}

/// The key-part texts and the WHERE predicate of a SQLite `CREATE INDEX` statement; pragmas
/// give neither an expression's text nor a partial index's predicate.
pub(crate) fn sqlite_index_parts(create_sql: &str) -> (Vec<String>, Option<String>) {
    let tokens = tokenize(create_sql);
    let Some(on) = tokens.iter().position(|t| is_word(create_sql, t, "ON")) else {
        return (Vec::new(), None);
    };
    let Some(open) = (on..tokens.len()).find(|&i| tokens[i].kind == Kind::Open) else {
        return (Vec::new(), None);
    };
    let close = matching_close(&tokens, open);
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut part_start = tokens[open].end;
    for t in &tokens[open + 1..close] {
        match t.kind {
            Kind::Open => depth += 1,
            Kind::Close => depth = depth.saturating_sub(1),
            Kind::Comma if depth == 0 => {
                parts.push(collapse_ws(&create_sql[part_start..t.start]));
                part_start = t.end;
            }
            _ => {}
        }
    }
    parts.push(collapse_ws(
        &create_sql[part_start..tokens[close].start.max(part_start)],
    ));
    let predicate = tokens[close + 1..]
        .iter()
        .find(|t| is_word(create_sql, t, "WHERE"))
        .map(|t| collapse_ws(&create_sql[t.end..]));
    (parts, predicate)
}

/// Drops a trailing ASC/DESC from an index key part, so the order can be re-added uniformly
/// from the pragma's `desc` flag.
pub(crate) fn strip_sort_order(part: &str) -> &str {
    for suffix in [" ASC", " DESC", " asc", " desc"] {
        if let Some(stripped) = part.strip_suffix(suffix) {
            return stripped;
        }
    }
    part
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapse_keeps_quoted_whitespace() {
        assert_eq!(
            collapse_ws("  SELECT  a,\n\t 'x  y'\n FROM t ;\n"),
            "SELECT a, 'x  y' FROM t"
        );
    }

    #[test]
    fn literal_casts() {
        assert_eq!(strip_literal_cast("'a'::character varying"), "'a'");
        assert_eq!(strip_literal_cast("'it''s'::text"), "'it''s'");
        assert_eq!(strip_literal_cast("'{}'::jsonb"), "'{}'");
        assert_eq!(
            strip_literal_cast("'a'::text || 'b'::text"),
            "'a'::text || 'b'::text"
        );
        assert_eq!(strip_literal_cast("now()"), "now()");
        assert_eq!(strip_literal_cast("'x'"), "'x'");
    }

    #[test]
    fn generated_names() {
        assert!(is_pg_generated_name("users_pkey", "users", "pkey"));
        assert!(is_pg_generated_name("users_email_key", "users", "key"));
        assert!(is_pg_generated_name("users_email_key1", "users", "key"));
        assert!(is_pg_generated_name(
            "orders_user_id_fkey",
            "orders",
            "fkey"
        ));
        assert!(!is_pg_generated_name("uq_users_email", "users", "key"));
        assert!(!is_pg_generated_name("accounts_email_key", "users", "key"));
        assert!(is_mysql_column_generated_name("email", "email"));
        assert!(is_mysql_column_generated_name("email_2", "email"));
        assert!(!is_mysql_column_generated_name("email_idx", "email"));
    }

    #[test]
    fn sqlite_check_scan() {
        let sql = "CREATE TABLE \"p\" (id INTEGER PRIMARY KEY AUTOINCREMENT, \
                   price NUMERIC CHECK (price > 0), note TEXT DEFAULT 'CHECK (x)', \
                   -- CHECK (commented)\n \
                   CONSTRAINT \"ck qty\" CHECK (qty >= 0 AND (qty < 10)), check_flag INT)";
        assert_eq!(
            sqlite_checks(sql),
            vec![
                (None, "(price > 0)".to_owned()),
                (
                    Some("ck qty".to_owned()),
                    "(qty >= 0 AND (qty < 10))".to_owned()
                ),
            ]
        );
        assert!(sqlite_has_autoincrement(sql));
        assert!(!sqlite_without_rowid(sql));
        assert!(sqlite_without_rowid(
            "CREATE TABLE t (a PRIMARY KEY) WITHOUT ROWID"
        ));
    }

    #[test]
    fn sqlite_index_scan() {
        let (parts, predicate) = sqlite_index_parts(
            "CREATE UNIQUE INDEX ix ON t (lower(email), coalesce(a, b) DESC) WHERE deleted IS NULL",
        );
        assert_eq!(parts, ["lower(email)", "coalesce(a, b) DESC"]);
        assert_eq!(predicate.as_deref(), Some("deleted IS NULL"));
        assert_eq!(strip_sort_order("coalesce(a, b) DESC"), "coalesce(a, b)");
    }
}
