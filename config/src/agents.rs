//! `[agents]`: the run timeout beside the agents themselves, keyed by id (`[agents.<id>]`).
//!
//! The section mixes one fixed key (`run_timeout_s`) with a table per agent, so it is
//! deserialized by hand: `#[serde(flatten)]` would buffer every agent through serde's generic
//! content, which loses the `config` crate's string-to-number conversion (environment values are
//! strings) and the key path in error messages.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::de::Unit;
use crate::defaults;
use crate::names::AgentKind;

/// The name of the one fixed key of `[agents]`.
const RUN_TIMEOUT_KEY: &str = "run_timeout_s";

/// `[agents]`: the run timeout and every configured agent. Always holds
/// [`defaults::MAIN_AGENT`] (`main`), an echo agent unless configured otherwise.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentsConfig {
    /// A run that takes longer ends with status `timeout`.
    pub run_timeout_s: u64,
    /// The agents by id (`[agents.<id>]`).
    #[serde(flatten)]
    pub defs: BTreeMap<String, AgentConfig>,
}

impl Default for AgentsConfig {
    fn default() -> Self {
        let mut agents = Self {
            run_timeout_s: defaults::RUN_TIMEOUT_S,
            defs: BTreeMap::new(),
        };
        agents.ensure_main();
        agents
    }
}

impl AgentsConfig {
    /// `run_timeout_s` as a duration.
    pub fn run_timeout(&self) -> Duration {
        Duration::from_secs(self.run_timeout_s)
    }

    /// The agent with this id.
    pub fn get(&self, id: &str) -> Option<&AgentConfig> {
        self.defs.get(id)
    }

    /// Every agent with its id, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &AgentConfig)> {
        self.defs.iter().map(|(id, agent)| (id.as_str(), agent))
    }

    /// Adds the default `main` echo agent unless one is configured.
    fn ensure_main(&mut self) {
        self.defs
            .entry(defaults::MAIN_AGENT.to_owned())
            .or_default();
    }
}

impl<'de> Deserialize<'de> for AgentsConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(AgentsVisitor)
    }
}

struct AgentsVisitor;

impl<'de> Visitor<'de> for AgentsVisitor {
    type Value = AgentsConfig;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table of `run_timeout_s` and agents by id")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut run_timeout_s = None;
        let mut defs = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == RUN_TIMEOUT_KEY {
                if run_timeout_s.is_some() {
                    return Err(de::Error::duplicate_field(RUN_TIMEOUT_KEY));
                }
                run_timeout_s = Some(map.next_value_seed(Unit::Secs)?);
            } else {
                let agent = map.next_value::<AgentConfig>()?;
                if defs.insert(key, agent).is_some() {
                    return Err(de::Error::custom("an agent is configured twice"));
                }
            }
        }
        let mut agents = AgentsConfig {
            run_timeout_s: run_timeout_s.unwrap_or(defaults::RUN_TIMEOUT_S),
            defs,
        };
        agents.ensure_main();
        Ok(agents)
    }
}

/// `[agents.<id>]`: one agent. The `openai` keys are optional here and required by
/// [`Config::validate`](crate::Config::validate) for an `openai` agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// What runs the agent; `echo` when left out.
    pub kind: AgentKind,
    /// Echo agent: pause between words (demos, tests).
    #[serde(deserialize_with = "crate::de::millis")]
    pub chunk_delay_ms: u64,
    /// Shown by `agents.list`.
    pub description: Option<String>,
    /// OpenAI: the server's base URL, e.g. `https://api.openai.com/v1` or
    /// `http://127.0.0.1:11434/v1`.
    pub base_url: Option<String>,
    /// OpenAI: the model name sent with each request.
    pub model: Option<String>,
    /// OpenAI: the environment variable holding the API key (the key itself is never configured).
    pub api_key_env: Option<String>,
    /// OpenAI: the system message that opens every conversation.
    pub system_prompt: Option<String>,
    /// OpenAI: sampling temperature (0–2); the server's default when unset.
    pub temperature: Option<f64>,
    /// OpenAI: the most tokens one completion may produce; the server's default when unset.
    pub max_tokens: Option<u32>,
    /// OpenAI: the tools offered to the model, by name (built-in or `[tools.<name>]`).
    #[serde(deserialize_with = "crate::de::string_list")]
    pub tools: Vec<String>,
    /// OpenAI: how long one request to the server may take.
    #[serde(deserialize_with = "crate::de::secs")]
    pub request_timeout_s: u64,
    /// OpenAI: model calls in one run's tool-calling loop before it stops.
    pub max_steps: u32,
    /// OpenAI: stored messages of the session sent as context.
    pub history_messages: usize,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            kind: AgentKind::Echo,
            chunk_delay_ms: defaults::CHUNK_DELAY_MS,
            description: None,
            base_url: None,
            model: None,
            api_key_env: None,
            system_prompt: None,
            temperature: None,
            max_tokens: None,
            tools: Vec::new(),
            request_timeout_s: defaults::REQUEST_TIMEOUT_S,
            max_steps: defaults::MAX_STEPS,
            history_messages: defaults::HISTORY_MESSAGES,
        }
    }
}

impl AgentConfig {
    /// `chunk_delay_ms` as a duration.
    pub fn chunk_delay(&self) -> Duration {
        Duration::from_millis(self.chunk_delay_ms)
    }

    /// `request_timeout_s` as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_s)
    }
}
