//! The closed sets of names a configuration value may take (agent kinds, risks, log formats),
//! parsed with errors that list every accepted name.

use std::fmt;
use std::str::FromStr;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A name outside the set a key accepts, e.g. `unknown agent kind "gpt" (expected echo or openai)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    /// What was being named (`agent kind`, `risk`, …).
    what: &'static str,
    /// The name given.
    name: String,
    /// Every accepted name.
    expected: &'static [&'static str],
}

impl UnknownName {
    /// The name that was given.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown {} {:?} (expected {})",
            self.what,
            self.name,
            one_of(self.expected)
        )
    }
}

impl std::error::Error for UnknownName {}

/// `a`, `a or b`, `a, b or c`.
pub(crate) fn one_of(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [only] => (*only).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Declares a closed set of lowercase names with `as_str`, `Display`, `FromStr` (failing with
/// [`UnknownName`]), string (de)serialization and optionally a `Default`.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal $(, default $default:ident)? {
            $( $(#[$vmeta:meta])* $variant:ident => $wire:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every accepted name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($wire),+];

            /// The name used in configuration files.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $wire ),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $wire => Ok($name::$variant), )+
                    other => Err(UnknownName {
                        what: $what,
                        name: other.to_owned(),
                        expected: Self::NAMES,
                    }),
                }
            }
        }

        $(
            impl Default for $name {
                fn default() -> Self {
                    $name::$default
                }
            }
        )?

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let name = String::deserialize(deserializer)?;
                name.parse().map_err(D::Error::custom)
            }
        }
    };
}

named_enum! {
    /// What runs an agent (`agents.<id>.kind`); `echo` by default.
    AgentKind, "agent kind", default Echo {
        /// Built in: replies with the user's message, one `chat` event per word.
        Echo => "echo",
        /// Any OpenAI-compatible chat-completions server, streaming, with tool calling.
        Openai => "openai",
    }
}

named_enum! {
    /// How dangerous a tool call is (`tools.<name>.risk`), shown in `approval.requested`.
    Risk, "risk" {
        /// Reads only, no side effects.
        Low => "low",
        /// Reaches outside the process (network reads).
        Medium => "medium",
        /// Can change the world (commands, writes).
        High => "high",
    }
}

named_enum! {
    /// How log lines are written (`log.format`); `pretty` by default.
    LogFormat, "log format", default Pretty {
        /// Human-readable, coloured when the output is a terminal.
        Pretty => "pretty",
        /// One JSON object per line, for machines.
        Json => "json",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_list_the_accepted_ones() {
        let err = "gpt".parse::<AgentKind>().unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"unknown agent kind "gpt" (expected echo or openai)"#
        );
        let err = "extreme".parse::<Risk>().unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"unknown risk "extreme" (expected low, medium or high)"#
        );
    }

    #[test]
    fn names_round_trip() {
        for name in Risk::NAMES {
            assert_eq!(name.parse::<Risk>().unwrap().as_str(), *name);
        }
        assert_eq!(serde_json::to_string(&LogFormat::Json).unwrap(), "\"json\"");
    }
}
