//! Agents: what answers a message. A run hands its agent the input and a [`RunOutput`] to
//! stream into; the agent never touches a socket or the hub.

mod echo;
mod openai;
mod output;
pub mod tools;

pub use echo::EchoAgent;
pub use openai::OpenAiAgent;
pub(crate) use output::fields;
pub use output::{AgentError, RunOutput};

use std::collections::HashMap;

use switchboard_config::{AgentKind, Config};

/// One configured agent.
#[derive(Debug, Clone)]
pub enum Agent {
    /// Replies with the message, word by word; runs `/tool NAME {json}`.
    Echo(EchoAgent),
    /// An OpenAI-compatible chat-completions server.
    OpenAi(Box<OpenAiAgent>),
}

impl Agent {
    /// Runs the agent on `message`, streaming into `out`.
    pub async fn run(&self, message: &str, out: &mut RunOutput) -> Result<(), AgentError> {
        match self {
            Agent::Echo(echo) => echo.run(message, out).await,
            Agent::OpenAi(agent) => agent.run(out).await,
        }
    }
}

/// Every configured agent by id. Kinds this build cannot run yet are left out with a warning.
pub fn build_agents(config: &Config) -> HashMap<String, Agent> {
    let mut agents = HashMap::new();
    for (id, agent) in config.agents.iter() {
        match agent.kind {
            AgentKind::Echo => {
                agents.insert(
                    id.to_owned(),
                    Agent::Echo(EchoAgent::new(agent.chunk_delay())),
                );
            }
            other => {
                tracing::warn!(agent = id, kind = %other, "agent kind not supported yet; agent left out")
            }
        }
    }
    agents
}
