//! `models.list`, `commands.list`, `question.list`: the lists OpenClaw's clients read at start,
//! answered from what the gateway has (one model per agent; no slash commands, no questions).

use jsonrpsee::core::RpcResult;
use switchboard_api::rpc::{CommandsApiServer, ModelsApiServer, QuestionApiServer};
use switchboard_api::types::{CommandList, ModelInfo, ModelList, QuestionList};

use crate::AppState;

/// The list families.
#[derive(Debug)]
pub struct ListMethods {
    state: AppState,
}

impl ListMethods {
    /// Handlers over `state`.
    pub fn new(state: AppState) -> Self {
        ListMethods { state }
    }
}

impl ModelsApiServer for ListMethods {
    fn list(&self) -> RpcResult<ModelList> {
        Ok(ModelList {
            models: self
                .state
                .config
                .agents
                .iter()
                .map(|(id, agent)| {
                    let kind = agent.kind.to_string();
                    let model = agent.model.clone().unwrap_or_else(|| kind.clone());
                    ModelInfo {
                        id: model.clone(),
                        name: model,
                        provider: kind,
                        agent_id: id.to_owned(),
                    }
                })
                .collect(),
        })
    }
}

impl CommandsApiServer for ListMethods {
    fn list(&self) -> RpcResult<CommandList> {
        Ok(CommandList::default())
    }
}

impl QuestionApiServer for ListMethods {
    fn list(&self) -> RpcResult<QuestionList> {
        Ok(QuestionList::default())
    }
}
