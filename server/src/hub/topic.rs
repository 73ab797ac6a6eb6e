//! Subscription topics: `session:<id>`, `agent:<id>`, `sessions`, `*`.

use super::HubEvent;

/// What a subscription listens to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topic {
    /// Every event of one session (and its deletion).
    Session(String),
    /// Every session event of one agent's sessions.
    Agent(String),
    /// Session lifecycle: created, updated, deleted.
    Sessions,
    /// Everything a viewer may see.
    All,
}

impl Topic {
    /// Parses a topic string; `None` for anything else.
    pub fn parse(topic: &str) -> Option<Topic> {
        match topic {
            "*" => Some(Topic::All),
            "sessions" => Some(Topic::Sessions),
            _ => {
                let (kind, id) = topic.split_once(':')?;
                if id.is_empty() || id.len() > 255 {
                    return None;
                }
                match kind {
                    "session" => Some(Topic::Session(id.to_owned())),
                    "agent" => Some(Topic::Agent(id.to_owned())),
                    _ => None,
                }
            }
        }
    }

    /// Whether `event` belongs to this topic.
    pub fn matches(&self, event: &HubEvent) -> bool {
        match self {
            Topic::All => true,
            Topic::Sessions => event.lifecycle,
            Topic::Session(id) => {
                event.session_id.as_deref() == Some(id.as_str())
                    && (!event.lifecycle || &*event.name == "session.deleted")
            }
            Topic::Agent(id) => !event.lifecycle && event.agent_id.as_deref() == Some(id.as_str()),
        }
    }
}

impl std::fmt::Display for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Topic::Session(id) => write!(f, "session:{id}"),
            Topic::Agent(id) => write!(f, "agent:{id}"),
            Topic::Sessions => f.write_str("sessions"),
            Topic::All => f.write_str("*"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_parse() {
        assert_eq!(Topic::parse("*"), Some(Topic::All));
        assert_eq!(Topic::parse("sessions"), Some(Topic::Sessions));
        assert_eq!(
            Topic::parse("session:abc"),
            Some(Topic::Session("abc".into()))
        );
        assert_eq!(
            Topic::parse("agent:main"),
            Some(Topic::Agent("main".into()))
        );
        for bad in ["", "session:", "room:1", "session"] {
            assert_eq!(Topic::parse(bad), None, "{bad}");
        }
    }
}
