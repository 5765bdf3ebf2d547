//! The wheel as written: serde structs that mirror `schedule.toml` key for
//! key, every value wrapped in [`Spanned`] so later checks can point at it.
//! Unknown keys are rejected here; nothing here judges meaning.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWheel {
    pub organisation: RawOrganisation,
    pub terms: Option<RawTerms>,
    #[serde(default)]
    pub defaults: RawDefaults,
    #[serde(default)]
    pub people: BTreeMap<String, RawPerson>,
    #[serde(default, rename = "task")]
    pub tasks: Vec<Spanned<RawTask>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOrganisation {
    pub name: Spanned<String>,
    pub timezone: Option<Spanned<String>>,
    pub language: Option<Spanned<String>>,
    pub send_time: Option<Spanned<String>>,
    pub holidays: Option<Spanned<String>>,
    pub closed: Option<Vec<Spanned<String>>>,
    /// A TOML local date or a `"YYYY-MM-DD"` string; checked later.
    pub start: Option<Spanned<toml::Value>>,
    /// A person key: who gets the weekly digest.
    pub coordinator: Option<Spanned<String>>,
    /// The digest's weekday, English lower case (`monday`).
    pub digest: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTerms {
    /// A TOML local date or a `"YYYY-MM-DD"` string; checked later.
    pub start: Spanned<toml::Value>,
    pub years: Spanned<i64>,
}

/// `[defaults]` and the per-task overrides share these three keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDefaults {
    pub remind: Option<Vec<Spanned<String>>>,
    pub repeat: Option<Spanned<String>>,
    pub escalate: Option<Vec<RawStep>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    pub after: Spanned<String>,
    pub to: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPerson {
    pub name: Spanned<String>,
    pub email: Spanned<String>,
    pub deputy: Option<Spanned<String>>,
    pub greeting: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTask {
    // The five required keys are optional here so that `check` can report
    // every missing one, naming the task, instead of toml stopping at the first.
    pub id: Option<Spanned<String>>,
    pub title: Option<Spanned<String>>,
    pub owner: Option<Spanned<RawOwner>>,
    pub every: Option<Spanned<String>>,
    pub due: Option<Spanned<RawDue>>,
    pub first: Option<Spanned<i64>>,
    pub anchor: Option<Spanned<String>>,
    pub reference: Option<Spanned<String>>,
    pub description: Option<Spanned<String>>,
    pub category: Option<Spanned<String>>,
    pub remind: Option<Vec<Spanned<String>>>,
    pub repeat: Option<Spanned<String>>,
    pub escalate: Option<Vec<RawStep>>,
}

/// `owner = "key"` or `owner = ["key", ...]`.
#[derive(Debug)]
pub(super) enum RawOwner {
    One(String),
    Many(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for RawOwner {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OwnerVisitor;

        impl<'de> Visitor<'de> for OwnerVisitor {
            type Value = RawOwner;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a person key or a list of person keys")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<RawOwner, E> {
                Ok(RawOwner::One(value.to_string()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawOwner, A::Error> {
                let mut keys = Vec::new();
                while let Some(key) = seq.next_element::<Spanned<String>>()? {
                    keys.push(key);
                }
                Ok(RawOwner::Many(keys))
            }
        }

        deserializer.deserialize_any(OwnerVisitor)
    }
}

/// `due` before its shape is checked against `every`: `"MM-DD"`, a day
/// number, or a table with some of `year`, `date`, `month`, `day`.
#[derive(Debug)]
pub(super) enum RawDue {
    Text(String),
    Number(i64),
    Table(RawDueTable),
    /// Some other kind of value, described in words (`"a list"`).
    Other(&'static str),
}

#[derive(Debug, Default)]
pub(super) struct RawDueTable {
    pub year: Option<Spanned<toml::Value>>,
    pub date: Option<Spanned<toml::Value>>,
    pub month: Option<Spanned<toml::Value>>,
    pub day: Option<Spanned<toml::Value>>,
}

/// The key toml uses to smuggle a date-time through serde as a one-entry map.
const TOML_DATETIME_KEY: &str = "$__toml_private_datetime";

const DUE_KEYS: &[&str] = &["year", "date", "month", "day"];

impl<'de> Deserialize<'de> for RawDue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DueVisitor;

        impl<'de> Visitor<'de> for DueVisitor {
            type Value = RawDue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"MM-DD\", a day number or a table such as { month = 1, day = 15 }")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<RawDue, E> {
                Ok(RawDue::Text(value.to_string()))
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<RawDue, E> {
                Ok(RawDue::Number(value))
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<RawDue, E> {
                Ok(RawDue::Number(i64::try_from(value).unwrap_or(i64::MAX)))
            }

            fn visit_f64<E: de::Error>(self, _value: f64) -> Result<RawDue, E> {
                Ok(RawDue::Other("a decimal number"))
            }

            fn visit_bool<E: de::Error>(self, _value: bool) -> Result<RawDue, E> {
                Ok(RawDue::Other("true or false"))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawDue, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(RawDue::Other("a list"))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawDue, A::Error> {
                let mut table = RawDueTable::default();
                while let Some(key) = map.next_key::<String>()? {
                    let slot = match key.as_str() {
                        TOML_DATETIME_KEY => {
                            map.next_value::<IgnoredAny>()?;
                            return Ok(RawDue::Other("a date"));
                        }
                        "year" => &mut table.year,
                        "date" => &mut table.date,
                        "month" => &mut table.month,
                        "day" => &mut table.day,
                        _ => return Err(de::Error::unknown_field(&key, DUE_KEYS)),
                    };
                    *slot = Some(map.next_value::<Spanned<toml::Value>>()?);
                }
                Ok(RawDue::Table(table))
            }
        }

        deserializer.deserialize_any(DueVisitor)
    }
}
