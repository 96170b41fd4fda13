//! What kind of value a column holds, read from the engine's spelling of its type.

use std::collections::BTreeMap;

use crate::engine::Engine;

/// The value families the generator knows. Bounds are inclusive.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Int {
        min: i128,
        max: i128,
    },
    Decimal {
        precision: u32,
        scale: u32,
    },
    Float,
    Bool,
    Text {
        max: Option<usize>,
    },
    Date,
    Time {
        tz: bool,
    },
    Timestamp {
        tz: bool,
    },
    Year,
    Interval,
    Uuid,
    Json,
    Bytes {
        max: Option<usize>,
        fixed: bool,
    },
    /// PostgreSQL enum type, MySQL `enum(...)` or `set(...)`: one of the labels.
    Labels(Vec<String>),
    Inet {
        v6: bool,
    },
    Cidr,
    Mac {
        octets: usize,
    },
    Money,
    Xml,
    TsVector,
    Bits {
        len: usize,
        varying: bool,
    },
    Range(RangeOf),
    Point,
    Array(Box<Kind>),
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeOf {
    Int,
    Date,
    Timestamp { tz: bool },
}

/// Parses `data_type` as the snapshot of `engine` spells it: PostgreSQL `format_type()`
/// (`character varying(5)`, `timestamp with time zone`, `integer[]`, an enum's name), MySQL
/// `COLUMN_TYPE` (`int(10) unsigned`, `tinyint(1)`, `enum('a','b')`), SQLite declared types
/// (anything; SQLite's affinity rules decide the rest).
pub(crate) fn parse(
    engine: Engine,
    data_type: &str,
    enums: &BTreeMap<String, Vec<String>>,
) -> Kind {
    let original = data_type.trim();
    let ty = original.to_ascii_lowercase();
    if engine == Engine::Postgres
        && let Some(inner) = original.strip_suffix("[]")
    {
        return Kind::Array(Box::new(parse(engine, inner.trim_end_matches("[]"), enums)));
    }
    if engine == Engine::Postgres
        && let Some(labels) = pg_enum(original, enums)
    {
        return Kind::Labels(labels.clone());
    }
    if let Some(list) = ty.strip_prefix("enum(").or_else(|| ty.strip_prefix("set(")) {
        // Labels keep their case from the original spelling where the snapshot kept it.
        let start = original.len() - list.len();
        return Kind::Labels(quoted_list(&original[start..]));
    }

    let (name, params, rest) = split_type(&ty);
    let words: Vec<&str> = name
        .split_whitespace()
        .chain(rest.split_whitespace())
        .collect();
    let unsigned = words.contains(&"unsigned");
    let base: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| !matches!(*w, "unsigned" | "signed" | "zerofill"))
        .collect();
    let tz = ty.contains("with time zone");
    let first = base.first().copied().unwrap_or("");
    let param = |i: usize| params.get(i).copied();
    let int = |bits: u32| {
        if unsigned {
            Kind::Int {
                min: 0,
                max: (1i128 << bits) - 1,
            }
        } else {
            Kind::Int {
                min: -(1i128 << (bits - 1)),
                max: (1i128 << (bits - 1)) - 1,
            }
        }
    };
    let kind = match first {
        "tinyint" if engine == Engine::Mysql && param(0) == Some(1) => Kind::Bool,
        "tinyint" | "int1" => int(8),
        "smallint" | "int2" | "smallserial" | "serial2" => int(16),
        "mediumint" | "int3" => int(24),
        "int" | "integer" | "int4" | "serial" | "serial4" => int(32),
        "bigint" | "int8" | "bigserial" | "serial8" => {
            if unsigned {
                // Plenty, and every value still binds as an i64.
                Kind::Int {
                    min: 0,
                    max: i64::MAX.into(),
                }
            } else {
                int(64)
            }
        }
        "oid" => int(32),
        "bool" | "boolean" => Kind::Bool,
        "bit" if base.get(1) == Some(&"varying") => Kind::Bits {
            len: param(0).unwrap_or(8) as usize,
            varying: true,
        },
        "varbit" => Kind::Bits {
            len: param(0).unwrap_or(8) as usize,
            varying: true,
        },
        "bit" if engine == Engine::Mysql => {
            let bits = param(0).unwrap_or(1).clamp(1, 62) as u32;
            if bits == 1 {
                Kind::Bool
            } else {
                Kind::Int {
                    min: 0,
                    max: (1i128 << bits) - 1,
                }
            }
        }
        "bit" => Kind::Bits {
            len: param(0).unwrap_or(1) as usize,
            varying: false,
        },
        "numeric" | "decimal" | "dec" | "number" | "fixed" => match (param(0), param(1)) {
            (Some(p), s) => Kind::Decimal {
                precision: p.clamp(1, 38) as u32,
                scale: s.unwrap_or(0).min(p) as u32,
            },
            // Unconstrained numeric (PostgreSQL, SQLite); MySQL always reports (p,s).
            (None, _) => Kind::Decimal {
                precision: 12,
                scale: 2,
            },
        },
        // MySQL's deprecated FLOAT(M,D)/DOUBLE(M,D) bound their values like DECIMAL(M,D).
        "float" | "double" | "real" if engine == Engine::Mysql && params.len() == 2 => {
            Kind::Decimal {
                precision: params[0].clamp(1, 38) as u32,
                scale: params[1].min(params[0]) as u32,
            }
        }
        "real" | "float4" | "float" | "float8" | "double" => Kind::Float,
        "money" | "smallmoney" => Kind::Money,
        "char" | "character" | "nchar" | "bpchar" | "\"char\"" if !base.contains(&"varying") => {
            Kind::Text {
                max: Some(param(0).unwrap_or(1) as usize),
            }
        }
        "varchar" | "character" | "char" | "nvarchar" | "varchar2" | "nvarchar2" | "varying"
        | "national" => Kind::Text {
            max: param(0).map(|n| n as usize),
        },
        "tinytext" => Kind::Text { max: Some(255) },
        "text" | "mediumtext" | "longtext" | "clob" | "string" | "citext" | "ntext" => {
            Kind::Text { max: None }
        }
        "name" if engine == Engine::Postgres => Kind::Text { max: Some(63) },
        "date" => Kind::Date,
        "time" | "timetz" => Kind::Time {
            tz: tz || first == "timetz",
        },
        "timestamp" | "timestamptz" => Kind::Timestamp {
            tz: engine == Engine::Postgres && (tz || first == "timestamptz"),
        },
        "datetime" | "datetime2" | "smalldatetime" => Kind::Timestamp { tz: false },
        "year" => Kind::Year,
        "interval" => Kind::Interval,
        "uuid" | "uniqueidentifier" => Kind::Uuid,
        "json" | "jsonb" => Kind::Json,
        "bytea" | "blob" | "mediumblob" | "longblob" | "image" => Kind::Bytes {
            max: None,
            fixed: false,
        },
        "tinyblob" => Kind::Bytes {
            max: Some(255),
            fixed: false,
        },
        "binary" => Kind::Bytes {
            max: Some(param(0).unwrap_or(1) as usize),
            fixed: true,
        },
        "varbinary" => Kind::Bytes {
            max: param(0).map(|n| n as usize),
            fixed: false,
        },
        "inet" | "inet4" => Kind::Inet { v6: false },
        "inet6" => Kind::Inet { v6: true },
        "cidr" => Kind::Cidr,
        "macaddr" => Kind::Mac { octets: 6 },
        "macaddr8" => Kind::Mac { octets: 8 },
        "xml" => Kind::Xml,
        "tsvector" => Kind::TsVector,
        "int4range" | "int8range" | "numrange" => Kind::Range(RangeOf::Int),
        "daterange" => Kind::Range(RangeOf::Date),
        "tsrange" => Kind::Range(RangeOf::Timestamp { tz: false }),
        "tstzrange" => Kind::Range(RangeOf::Timestamp { tz: true }),
        "point" if engine == Engine::Postgres => Kind::Point,
        _ => Kind::Unknown,
    };
    if kind == Kind::Unknown && engine == Engine::Sqlite {
        return sqlite_affinity(&ty);
    }
    kind
}

/// SQLite's own rules (section 3.1 of "Datatypes In SQLite") for declared types no rule
/// above recognised. Any value is accepted anyway; these only make rows look right.
fn sqlite_affinity(ty: &str) -> Kind {
    if ty.contains("int") {
        Kind::Int {
            min: i64::MIN.into(),
            max: i64::MAX.into(),
        }
    } else if ty.contains("char") || ty.contains("clob") || ty.contains("text") || ty.is_empty() {
        Kind::Text { max: None }
    } else if ty.contains("blob") {
        Kind::Bytes {
            max: None,
            fixed: false,
        }
    } else if ty.contains("real") || ty.contains("floa") || ty.contains("doub") {
        Kind::Float
    } else {
        Kind::Unknown
    }
}

/// `name(1, 2) rest` -> (`name`, [1, 2], `rest`); non-numeric parameters are dropped.
fn split_type(ty: &str) -> (&str, Vec<i64>, &str) {
    let Some(open) = ty.find('(') else {
        return (ty.trim(), Vec::new(), "");
    };
    let close = ty[open..].find(')').map_or(ty.len(), |i| open + i);
    let params = ty[open + 1..close]
        .split(',')
        .filter_map(|p| p.trim().parse().ok())
        .collect();
    let rest = ty.get(close + 1..).unwrap_or("");
    (ty[..open].trim(), params, rest)
}

/// `'a','b''c')` -> [a, b'c]: the labels of MySQL's `enum(...)`/`set(...)`.
fn quoted_list(list: &str) -> Vec<String> {
    let mut labels = Vec::new();
    let mut chars = list.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut label = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\'' if chars.peek() == Some(&'\'') => {
                    chars.next();
                    label.push('\'');
                }
                '\'' => break,
                '\\' => {
                    if let Some(next) = chars.next() {
                        label.push(next);
                    }
                }
                c => label.push(c),
            }
        }
        labels.push(label);
    }
    labels
}

/// The labels of a PostgreSQL enum column, whose type `format_type()` spells as the enum's
/// name, schema-qualified and/or quoted when needed.
fn pg_enum<'a>(ty: &str, enums: &'a BTreeMap<String, Vec<String>>) -> Option<&'a Vec<String>> {
    if let Some(labels) = enums.get(ty) {
        return Some(labels);
    }
    let unqualified = match ty.rfind("\".") {
        Some(i) => &ty[i + 2..],
        None if !ty.starts_with('"') => ty.rsplit('.').next().unwrap_or(ty),
        None => ty,
    };
    let unquoted = unqualified
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .map(|s| s.replace("\"\"", "\""))
        .unwrap_or_else(|| unqualified.to_owned());
    enums.get(&unquoted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(ty: &str) -> Kind {
        let mut enums = BTreeMap::new();
        enums.insert(
            "mood".to_owned(),
            vec!["happy".to_owned(), "sad".to_owned()],
        );
        enums.insert("Odd Name".to_owned(), vec!["x".to_owned()]);
        parse(Engine::Postgres, ty, &enums)
    }

    #[test]
    fn postgres_types() {
        assert_eq!(
            pg("smallint"),
            Kind::Int {
                min: -32768,
                max: 32767
            }
        );
        assert_eq!(pg("character varying(5)"), Kind::Text { max: Some(5) });
        assert_eq!(pg("character varying"), Kind::Text { max: None });
        assert_eq!(pg("character(3)"), Kind::Text { max: Some(3) });
        assert_eq!(
            pg("numeric(5,2)"),
            Kind::Decimal {
                precision: 5,
                scale: 2
            }
        );
        assert_eq!(
            pg("timestamp(3) with time zone"),
            Kind::Timestamp { tz: true }
        );
        assert_eq!(
            pg("timestamp without time zone"),
            Kind::Timestamp { tz: false }
        );
        assert_eq!(pg("time with time zone"), Kind::Time { tz: true });
        assert_eq!(pg("double precision"), Kind::Float);
        assert_eq!(pg("mood"), Kind::Labels(vec!["happy".into(), "sad".into()]));
        assert_eq!(
            pg("public.mood"),
            Kind::Labels(vec!["happy".into(), "sad".into()])
        );
        assert_eq!(pg("\"Odd Name\""), Kind::Labels(vec!["x".into()]));
        assert_eq!(
            pg("integer[]"),
            Kind::Array(Box::new(Kind::Int {
                min: i32::MIN.into(),
                max: i32::MAX.into()
            }))
        );
        assert_eq!(
            pg("bit(3)"),
            Kind::Bits {
                len: 3,
                varying: false
            }
        );
        assert_eq!(
            pg("bit varying(5)"),
            Kind::Bits {
                len: 5,
                varying: true
            }
        );
        assert_eq!(pg("\"char\""), Kind::Text { max: Some(1) });
        assert_eq!(
            pg("tstzrange"),
            Kind::Range(RangeOf::Timestamp { tz: true })
        );
        assert_eq!(pg("some_domain"), Kind::Unknown);
    }

    #[test]
    fn mysql_types() {
        let my = |ty: &str| parse(Engine::Mysql, ty, &BTreeMap::new());
        assert_eq!(my("tinyint(1)"), Kind::Bool);
        assert_eq!(
            my("tinyint(4)"),
            Kind::Int {
                min: -128,
                max: 127
            }
        );
        assert_eq!(
            my("int(10) unsigned"),
            Kind::Int {
                min: 0,
                max: 4294967295
            }
        );
        assert_eq!(my("bit(1)"), Kind::Bool);
        assert_eq!(
            my("enum('a','it''s')"),
            Kind::Labels(vec!["a".into(), "it's".into()])
        );
        assert_eq!(
            my("set('x','y')"),
            Kind::Labels(vec!["x".into(), "y".into()])
        );
        assert_eq!(my("datetime(6)"), Kind::Timestamp { tz: false });
        assert_eq!(my("timestamp"), Kind::Timestamp { tz: false });
        assert_eq!(
            my("binary(16)"),
            Kind::Bytes {
                max: Some(16),
                fixed: true
            }
        );
        assert_eq!(
            my("float(7,4)"),
            Kind::Decimal {
                precision: 7,
                scale: 4
            }
        );
        assert_eq!(my("year(4)"), Kind::Year);
        assert_eq!(my("longtext"), Kind::Text { max: None });
    }

    #[test]
    fn sqlite_types() {
        let lite = |ty: &str| parse(Engine::Sqlite, ty, &BTreeMap::new());
        assert_eq!(
            lite("numeric(10, 2)"),
            Kind::Decimal {
                precision: 10,
                scale: 2
            }
        );
        assert_eq!(lite(""), Kind::Text { max: None });
        assert_eq!(lite("boolean"), Kind::Bool);
        assert_eq!(
            lite("unsigned big int"),
            Kind::Int {
                min: i64::MIN.into(),
                max: i64::MAX.into()
            }
        );
        assert_eq!(lite("nvarchar(20)"), Kind::Text { max: Some(20) });
        assert_eq!(lite("weird"), Kind::Unknown);
    }
}
