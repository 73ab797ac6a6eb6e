//! Agents: what answers a message. A run hands its agent the input and a [`RunOutput`] to
//! stream into, over the run's [`RunLog`]; the agent never touches a socket, the hub or the
//! store.

mod echo;
pub mod openai;
mod output;
pub mod tools;

pub use echo::EchoAgent;
#[cfg(debug_assertions)]
pub use echo::{PANIC_MESSAGE, arm_panic_failpoint};
pub use openai::OpenAiAgent;
pub use output::{
    AgentError, CHAT_BYTES_BASE, CHAT_BYTES_PER_BYTE, PastMessage, RunLog, RunOutput,
};

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

/// Every configured agent by id.
pub fn build_agents(config: &Config) -> HashMap<String, Agent> {
    let registry = std::sync::Arc::new(tools::ToolRegistry::from_config(config));
    let mut agents = HashMap::new();
    for (id, agent) in config.agents.iter() {
        let built = match agent.kind {
            AgentKind::Echo => Agent::Echo(EchoAgent::new(agent.chunk_delay())),
            AgentKind::Openai => {
                let pricing = agent
                    .model
                    .as_ref()
                    .and_then(|m| config.pricing.get(m))
                    .cloned();
                Agent::OpenAi(Box::new(OpenAiAgent::new(agent, registry.clone(), pricing)))
            }
        };
        agents.insert(id.to_owned(), built);
    }
    agents
}
