//! Deterministic synthetic values: the `k`-th value of a column, for any `k >= 1`, distinct
//! for distinct `k` wherever the type has room.

use serde_json::json;

use super::Value;
use super::check_constraints::{Lit, Rules};
use super::types::{Kind, RangeOf};

/// 2024-01-01, in days since 1970-01-01.
const BASE_DAY: i64 = 19_723;

/// Everything that decides a column's values.
pub(crate) struct Gen<'a> {
    pub table: &'a str,
    pub column: &'a str,
    pub kind: &'a Kind,
    pub rules: &'a Rules,
}

impl Gen<'_> {
    /// The `k`-th value (`k >= 1`).
    pub(crate) fn value(&self, k: u64) -> Value {
        let k = k.max(1);
        if self.rules.json && !matches!(self.kind, Kind::Json) {
            return Value::Json(json!({ "drill": k }));
        }
        if let Some(value) = self.listed(k) {
            return value;
        }
        let mut value = self.plain(self.kind, k);
        // `<> x` / `NOT IN (...)`: step past excluded values.
        let mut step = 0;
        while step < 16 && self.excluded(&value) {
            step += 1;
            value = self.plain(self.kind, k + step * 1_000);
        }
        value
    }

    fn excluded(&self, value: &Value) -> bool {
        self.rules.not_in.iter().any(|lit| matches_lit(value, lit))
    }

    /// A value from an enum's labels or a CHECK's list.
    fn listed(&self, k: u64) -> Option<Value> {
        let labels: Vec<Lit> = match (self.kind, &self.rules.one_of) {
            (Kind::Labels(labels), one_of) => labels
                .iter()
                .filter(|l| {
                    one_of.as_ref().is_none_or(|list| {
                        list.iter()
                            .any(|lit| matches!(lit, Lit::Str(s) if s.eq_ignore_ascii_case(l)))
                    })
                })
                .map(|l| Lit::Str(l.clone()))
                .collect(),
            (_, Some(list)) => list.clone(),
            _ => return None,
        };
        let labels: Vec<Lit> = labels
            .into_iter()
            .filter(|l| !self.rules.not_in.contains(l))
            .collect();
        if labels.is_empty() {
            return None;
        }
        let lit = &labels[((k - 1) % labels.len() as u64) as usize];
        Some(self.literal_value(lit))
    }

    fn literal_value(&self, lit: &Lit) -> Value {
        match (self.kind, lit) {
            (Kind::Bool, lit) => Value::Bool(match lit {
                Lit::Num(n) => *n != 0.0,
                Lit::Str(s) => matches!(
                    s.to_ascii_lowercase().as_str(),
                    "t" | "true" | "y" | "yes" | "on" | "1"
                ),
            }),
            (Kind::Int { .. } | Kind::Year, lit)
                if lit.as_num().is_some_and(|n| n.fract() == 0.0) =>
            {
                Value::Int(lit.as_num().unwrap_or(0.0) as i64)
            }
            (Kind::Decimal { scale, .. }, lit) if lit.as_num().is_some() => Value::Decimal(
                format!("{:.*}", *scale as usize, lit.as_num().unwrap_or(0.0)),
            ),
            (Kind::Float, lit) if lit.as_num().is_some() => {
                Value::Float(lit.as_num().unwrap_or(0.0))
            }
            (_, Lit::Str(s)) => Value::Text(s.clone()),
            (_, Lit::Num(n)) if n.fract() == 0.0 && n.abs() < 9e15 => Value::Int(*n as i64),
            (_, Lit::Num(n)) => Value::Float(*n),
        }
    }

    fn plain(&self, kind: &Kind, k: u64) -> Value {
        match kind {
            Kind::Int { min, max } => Value::Int(self.integer(*min, *max, k) as i64),
            Kind::Year => Value::Int(2000 + ((k - 1) % 150) as i64),
            Kind::Decimal { precision, scale } => {
                let units = self.scaled(*precision, *scale, k);
                Value::Decimal(format_units(units, *scale))
            }
            Kind::Money => Value::Decimal(format_units(self.scaled(12, 2, k), 2)),
            Kind::Float => {
                let units = self.scaled(15, 1, k);
                Value::Float(units as f64 / 10.0)
            }
            Kind::Bool => Value::Bool(k % 2 == 1),
            Kind::Text { max } => Value::Text(self.text(k, *max)),
            Kind::Unknown => Value::Text(self.text(k, None)),
            Kind::Labels(_) => Value::Text(self.text(k, None)),
            Kind::Date => Value::Text(date(k)),
            Kind::Time { tz } => Value::Text(format!("{}{}", time(k), self.tz(*tz))),
            Kind::Timestamp { tz } => {
                Value::Text(format!("{} {}{}", date(k), time(k), self.tz(*tz)))
            }
            Kind::Interval => Value::Text(format!("{k} days")),
            Kind::Uuid => Value::Text(format!(
                "{:08x}-0000-4000-8000-{:012x}",
                fnv(&format!("{}.{}", self.table, self.column)) as u32,
                k & 0xffff_ffff_ffff
            )),
            Kind::Json => Value::Json(json!({ "drill": k })),
            Kind::Bytes { max, .. } => {
                let text = fit(
                    &format!("drill{k}"),
                    &k.to_string(),
                    max.unwrap_or(usize::MAX),
                );
                Value::Bytes(text.into_bytes())
            }
            Kind::Inet { v6: false } => Value::Text(format!(
                "10.{}.{}.{}",
                (k >> 16) & 255,
                (k >> 8) & 255,
                k & 255
            )),
            Kind::Inet { v6: true } => Value::Text(format!("2001:db8::{:x}", k & 0xffff)),
            Kind::Cidr => Value::Text(format!("10.{}.{}.0/24", (k >> 8) & 255, k & 255)),
            Kind::Mac { octets } => {
                let mut parts = vec!["08".to_owned(), "00".to_owned(), "2b".to_owned()];
                for i in (0..octets - 3).rev() {
                    parts.push(format!("{:02x}", (k >> (8 * i)) & 255));
                }
                Value::Text(parts.join(":"))
            }
            Kind::Xml => Value::Text(format!("<drill n=\"{k}\"/>")),
            Kind::TsVector => Value::Text(format!("drill n{k}")),
            Kind::Bits { len, varying } => {
                let bits = format!("{k:b}");
                let len = (*len).max(1);
                Value::Text(if *varying {
                    bits.chars()
                        .rev()
                        .take(len)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect()
                } else if bits.len() >= len {
                    bits[bits.len() - len..].to_owned()
                } else {
                    format!("{bits:0>len$}")
                })
            }
            Kind::Range(RangeOf::Int) => Value::Text(format!("[{k},{})", k + 10)),
            Kind::Range(RangeOf::Date) => Value::Text(format!("[{},{})", date(k), date(k + 10))),
            Kind::Range(RangeOf::Timestamp { tz }) => Value::Text(format!(
                "[\"{} {}{}\",\"{} {}{}\")",
                date(k),
                time(k),
                self.tz(*tz),
                date(k + 1),
                time(k),
                self.tz(*tz)
            )),
            Kind::Point => Value::Text(format!("({k},{k})")),
            Kind::Array(inner) => {
                let element = match &**inner {
                    Kind::Labels(labels) if !labels.is_empty() => {
                        Value::Text(labels[((k - 1) % labels.len() as u64) as usize].clone())
                    }
                    inner => self.plain(inner, k),
                };
                Value::Text(pg_array_literal(&element))
            }
        }
    }

    fn tz(&self, tz: bool) -> &'static str {
        if tz { "+00" } else { "" }
    }

    /// `k` when it satisfies the type and the CHECK bounds, else a value walking the allowed
    /// range from its low end.
    fn integer(&self, type_min: i128, type_max: i128, k: u64) -> i128 {
        let mut low = type_min;
        let mut high = type_max;
        if let Some((m, strict)) = self.rules.min {
            let bound = if strict {
                m.floor() as i128 + 1
            } else {
                m.ceil() as i128
            };
            low = low.max(bound);
        }
        if let Some((m, strict)) = self.rules.max {
            let bound = if strict {
                m.ceil() as i128 - 1
            } else {
                m.floor() as i128
            };
            high = high.min(bound);
        }
        let k = i128::from(k);
        if low > high {
            return k.clamp(type_min, type_max);
        }
        if (low..=high).contains(&k) {
            k
        } else {
            walk(low, high, 1, k)
        }
    }

    /// A decimal in units of `10^-scale`: `k.5` when it fits, within precision and bounds.
    fn scaled(&self, precision: u32, scale: u32, k: u64) -> i128 {
        let unit = 10i128.pow(scale.min(30));
        let limit = 10i128.pow(precision.min(30)) - 1;
        let mut low = -limit;
        let mut high = limit;
        if let Some((m, strict)) = self.rules.min {
            let bound = (m * unit as f64).ceil() as i128;
            let exact = (m * unit as f64).fract() == 0.0;
            low = low.max(if strict && exact { bound + 1 } else { bound });
        }
        if let Some((m, strict)) = self.rules.max {
            let bound = (m * unit as f64).floor() as i128;
            let exact = (m * unit as f64).fract() == 0.0;
            high = high.min(if strict && exact { bound - 1 } else { bound });
        }
        let k = i128::from(k);
        let candidate = k * unit + unit / 2;
        if low > high {
            return candidate.clamp(-limit, limit);
        }
        if (low..=high).contains(&candidate) {
            candidate
        } else if (low..=high).contains(&(k * unit)) {
            k * unit
        } else {
            walk(low, high, 1, k)
        }
    }

    /// An ordinary short value, `<column>_<k>` (an address for `*email*` columns, a URL
    /// for `*url*` ones), padded to a CHECK's minimum length. It stays within half the
    /// column's length limit, as production's values mostly do: a value that fills the
    /// column makes a backfill such as `name || '-copy'` overflow where real rows would not.
    fn text(&self, k: u64, max: Option<usize>) -> String {
        let column = self.column.to_ascii_lowercase();
        let full = if column.contains("email") {
            format!("user{k}@example.com")
        } else if column.contains("url") || column.contains("website") {
            format!("https://example.com/{k}")
        } else {
            format!("{}_{k}", self.column)
        };
        let max = match (max, self.rules.max_len) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or(usize::MAX),
        };
        let suffix = format!("_{k}");
        let short = (max / 2).max(suffix.chars().count() + 1).min(max);
        let mut text = fit(&full, &suffix, short.max(1));
        if let Some(min) = self.rules.min_len {
            while text.chars().count() < min.min(max) {
                text.push('x');
            }
        }
        text
    }
}

/// The `k`-th value of `low..=high` counting from `preferred` when that is in range (so
/// values stay small and positive when they may), else from `low`; wraps around.
fn walk(low: i128, high: i128, preferred: i128, k: i128) -> i128 {
    let start = if (low..=high).contains(&preferred) {
        preferred
    } else {
        low
    };
    start + (k - 1).rem_euclid(high - start + 1)
}

/// `full` cut to `max` characters, keeping `suffix` (which makes it unique) at the end.
fn fit(full: &str, suffix: &str, max: usize) -> String {
    if full.chars().count() <= max {
        return full.to_owned();
    }
    let suffix_len = suffix.chars().count();
    if suffix_len >= max {
        let digits: Vec<char> = suffix.trim_start_matches('_').chars().collect();
        let start = digits.len().saturating_sub(max);
        return digits[start..].iter().collect();
    }
    let mut out: String = full.chars().take(max - suffix_len).collect();
    out.push_str(suffix);
    out
}

fn format_units(units: i128, scale: u32) -> String {
    let unit = 10i128.pow(scale.min(30));
    let sign = if units < 0 { "-" } else { "" };
    let abs = units.abs();
    if scale == 0 {
        format!("{sign}{abs}")
    } else {
        format!(
            "{sign}{}.{:0width$}",
            abs / unit,
            abs % unit,
            width = scale as usize
        )
    }
}

fn matches_lit(value: &Value, lit: &Lit) -> bool {
    match (value, lit) {
        (Value::Text(s), Lit::Str(l)) => s == l,
        (Value::Int(i), lit) => lit.as_num() == Some(*i as f64),
        (Value::Float(f), lit) => lit.as_num() == Some(*f),
        (Value::Decimal(d), lit) => d.parse::<f64>().ok() == lit.as_num(),
        _ => false,
    }
}

/// `YYYY-MM-DD`, `k - 1` days after 2024-01-01.
pub(crate) fn date(k: u64) -> String {
    let (y, m, d) = civil_from_days(BASE_DAY + (k as i64 - 1).min(2_000_000));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `HH:MM:SS` from 08:00:00, one minute and one second per `k`.
fn time(k: u64) -> String {
    let k = k - 1;
    format!(
        "{:02}:{:02}:{:02}",
        8 + (k / 60) % 14,
        k % 60,
        (k / 840) % 60
    )
}

/// Howard Hinnant's days-to-civil conversion.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn fnv(text: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// A one-element PostgreSQL array literal (`{1}`, `{"a b"}`), `{}` for what has no plain
/// element spelling.
pub(crate) fn pg_array_literal(element: &Value) -> String {
    match element {
        Value::Int(i) => format!("{{{i}}}"),
        Value::Float(f) => format!("{{{f}}}"),
        Value::Decimal(d) => format!("{{{d}}}"),
        Value::Bool(b) => format!("{{{}}}", if *b { "t" } else { "f" }),
        Value::Text(s) => format!("{{{}}}", quote_array_element(s)),
        Value::Json(j) => format!("{{{}}}", quote_array_element(&j.to_string())),
        _ => "{}".to_owned(),
    }
}

pub(crate) fn quote_array_element(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_with(kind: Kind, rules: Rules, k: u64) -> Value {
        Gen {
            table: "t",
            column: "c",
            kind: &kind,
            rules: &rules,
        }
        .value(k)
    }

    fn value_of(kind: Kind, k: u64) -> Value {
        value_with(kind, Rules::default(), k)
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(date(1), "2024-01-01");
        assert_eq!(date(60), "2024-02-29");
        assert_eq!(date(367), "2025-01-01");
        assert_eq!(
            value_of(Kind::Timestamp { tz: true }, 2),
            Value::Text("2024-01-02 08:01:00+00".into())
        );
        assert_eq!(
            value_of(Kind::Time { tz: false }, 61),
            Value::Text("09:00:00".into())
        );
    }

    #[test]
    fn numbers_respect_types_and_bounds() {
        assert_eq!(
            value_of(
                Kind::Decimal {
                    precision: 5,
                    scale: 2
                },
                3
            ),
            Value::Decimal("3.50".into())
        );
        assert_eq!(
            value_of(
                Kind::Decimal {
                    precision: 2,
                    scale: 2
                },
                3
            ),
            Value::Decimal("0.03".into())
        );
        let positive = Rules {
            min: Some((0.0, true)),
            max: Some((1.0, true)),
            ..Rules::default()
        };
        assert_eq!(
            value_with(
                Kind::Decimal {
                    precision: 5,
                    scale: 2
                },
                positive.clone(),
                1
            ),
            Value::Decimal("0.01".into())
        );
        let small = Kind::Int {
            min: -128,
            max: 127,
        };
        assert_eq!(value_of(small.clone(), 200), Value::Int(1 + 199 % 127));
        let ranged = Rules {
            min: Some((10.0, false)),
            max: Some((12.0, false)),
            ..Rules::default()
        };
        let values: Vec<Value> = (1..=4)
            .map(|k| value_with(small.clone(), ranged.clone(), k))
            .collect();
        assert_eq!(
            values,
            [
                Value::Int(10),
                Value::Int(11),
                Value::Int(12),
                Value::Int(10)
            ]
        );
        let not_two = Rules {
            not_in: vec![Lit::Num(2.0)],
            ..Rules::default()
        };
        assert_ne!(value_with(small, not_two, 2), Value::Int(2));
    }

    #[test]
    fn text_fits_and_stays_unique() {
        let values: Vec<Value> = (1..=12)
            .map(|k| value_of(Kind::Text { max: Some(5) }, k))
            .collect();
        assert_eq!(values[0], Value::Text("c_1".into()));
        assert_eq!(values[11], Value::Text("c_12".into()));
        let mut distinct = values.clone();
        distinct.dedup();
        assert_eq!(distinct.len(), 12);
        assert_eq!(
            value_of(Kind::Text { max: Some(1) }, 7),
            Value::Text("7".into())
        );
        assert_eq!(
            value_of(Kind::Text { max: None }, 7),
            Value::Text("c_7".into())
        );
    }

    #[test]
    fn labels_and_lists() {
        let labels = Kind::Labels(vec!["a".into(), "b".into()]);
        assert_eq!(value_of(labels.clone(), 1), Value::Text("a".into()));
        assert_eq!(value_of(labels.clone(), 2), Value::Text("b".into()));
        assert_eq!(value_of(labels, 3), Value::Text("a".into()));
        let flags = Rules {
            one_of: Some(vec![Lit::Num(0.0), Lit::Num(1.0)]),
            ..Rules::default()
        };
        assert_eq!(value_with(Kind::Bool, flags, 2), Value::Bool(true));
    }

    #[test]
    fn other_types() {
        assert_eq!(
            value_of(Kind::Uuid, 1),
            Value::Text(format!(
                "{:08x}-0000-4000-8000-000000000001",
                fnv("t.c") as u32
            ))
        );
        assert_eq!(
            value_of(
                Kind::Bits {
                    len: 4,
                    varying: false
                },
                5
            ),
            Value::Text("0101".into())
        );
        assert_eq!(
            value_of(Kind::Array(Box::new(Kind::Text { max: None })), 1),
            Value::Text("{\"c_1\"}".into())
        );
        assert_eq!(
            value_of(Kind::Mac { octets: 6 }, 1),
            Value::Text("08:00:2b:00:00:01".into())
        );
        assert_eq!(value_of(Kind::Json, 4), Value::Json(json!({"drill": 4})));
    }
}
