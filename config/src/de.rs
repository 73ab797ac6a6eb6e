//! Serde helpers for the shapes a value may take in a file or in the environment: durations as
//! an integer in the key's unit or a humantime string, the port as a range-checked integer, lists
//! as arrays or comma-separated strings, and the anonymous role with a clear message.
//!
//! Environment values always arrive as strings (`SWITCHBOARD__SERVER__PORT=9000`), so every helper
//! accepts the string spelling of its value too.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};
use switchboard_api::Role;

/// The unit a duration key is stored in (its name ends in `_ms` or `_s`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Unit {
    /// `*_ms` keys.
    Millis,
    /// `*_s` keys.
    Secs,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Millis => "milliseconds",
            Unit::Secs => "seconds",
        }
    }

    /// `duration` as a whole number of this unit.
    fn count_of(self, duration: Duration, text: &str) -> Result<u64, String> {
        let (count, exact) = match self {
            Unit::Millis => (
                duration.as_millis(),
                duration.subsec_nanos().is_multiple_of(1_000_000),
            ),
            Unit::Secs => (u128::from(duration.as_secs()), duration.subsec_nanos() == 0),
        };
        if !exact {
            return Err(format!(
                "duration {text:?} is not a whole number of {}",
                self.name()
            ));
        }
        u64::try_from(count).map_err(|_| format!("duration {text:?} is too large"))
    }
}

/// Parses a duration given as text: digits alone are a count of `unit`, anything else is a
/// humantime duration (`"30s"`, `"2m"`, `"1h 30m"`).
pub(crate) fn parse_duration(text: &str, unit: Unit) -> Result<u64, String> {
    let trimmed = text.trim();
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return trimmed
            .parse::<u64>()
            .map_err(|e| format!("unparsable duration {text:?}: {e}"));
    }
    let duration = humantime::parse_duration(trimmed)
        .map_err(|e| format!("unparsable duration {text:?}: {e}"))?;
    unit.count_of(duration, text)
}

struct DurationVisitor(Unit);

impl Visitor<'_> for DurationVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a whole number of {} or a duration such as \"30s\", \"2m\" or \"1h\"",
            self.0.name()
        )
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::custom(format!("negative duration {v}")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        parse_duration(v, self.0).map_err(E::custom)
    }
}

/// A unit is also the seed that deserializes a duration in it.
impl<'de> DeserializeSeed<'de> for Unit {
    type Value = u64;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<u64, D::Error> {
        deserializer.deserialize_any(DurationVisitor(self))
    }
}

/// A `*_ms` key.
pub(crate) fn millis<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    Unit::Millis.deserialize(deserializer)
}

/// A `*_s` key.
pub(crate) fn secs<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    Unit::Secs.deserialize(deserializer)
}

/// An optional `*_s` key.
pub(crate) fn opt_secs<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    struct OptionVisitor;

    impl<'de> Visitor<'de> for OptionVisitor {
        type Value = Option<u64>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            DurationVisitor(Unit::Secs).expecting(f)
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> Result<Self::Value, D::Error> {
            secs(deserializer).map(Some)
        }
    }

    deserializer.deserialize_option(OptionVisitor)
}

/// `server.port`: read wider than `u16` so that an out-of-range number gets a clear message.
pub(crate) fn port<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u16, D::Error> {
    let number = i64::deserialize(deserializer)?;
    u16::try_from(number)
        .map_err(|_| de::Error::custom(format!("{number} is out of range (0–65535)")))
}

/// A list of strings: an array, or one comma-separated string (the environment's spelling).
pub(crate) fn string_list<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    struct ListVisitor;

    impl<'de> Visitor<'de> for ListVisitor {
        type Value = Vec<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of strings or a comma-separated string")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(v.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(str::to_owned)
                .collect())
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(item) = seq.next_element::<String>()? {
                items.push(item);
            }
            Ok(items)
        }
    }

    deserializer.deserialize_any(ListVisitor)
}

/// `auth.anonymous_role`: a role name, with a message that says which names are accepted.
pub(crate) fn opt_role<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Role>, D::Error> {
    let Some(name) = Option::<String>::deserialize(deserializer)? else {
        return Ok(None);
    };
    name.parse::<Role>().map(Some).map_err(|_| {
        de::Error::custom(format!(
            "unknown role {name:?} (expected viewer or operator)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_integers_and_humantime() {
        assert_eq!(parse_duration("30000", Unit::Millis), Ok(30_000));
        assert_eq!(parse_duration("30s", Unit::Millis), Ok(30_000));
        assert_eq!(parse_duration("2m", Unit::Secs), Ok(120));
        assert_eq!(parse_duration("1h", Unit::Secs), Ok(3600));
        assert_eq!(parse_duration("1500ms", Unit::Millis), Ok(1500));
    }

    #[test]
    fn durations_reject_garbage_and_fractions_of_the_unit() {
        let err = parse_duration("abc", Unit::Millis).unwrap_err();
        assert!(err.starts_with("unparsable duration \"abc\": "), "{err}");
        let err = parse_duration("1500ms", Unit::Secs).unwrap_err();
        assert!(err.contains("not a whole number of seconds"), "{err}");
    }
}
