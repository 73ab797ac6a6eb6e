//! The one method set: every family's module merged into one set of jsonrpsee `Methods`.

use jsonrpsee::{Methods, RpcModule};
use switchboard_api::rpc::{
    AgentsApiServer, ApprovalsApiServer, AuditApiServer, ChatApiServer, CommandsApiServer,
    ConfigApiServer, ConnectionsApiServer, EventsApiServer, GatewayApiServer, ModelsApiServer,
    QuestionApiServer, SessionsApiServer, TokensApiServer,
};

use super::{
    AgentMethods, ApprovalMethods, AuditMethods, ChatMethods, ConfigMethods, ConnectionMethods,
    EventMethods, GatewayMethods, ListMethods, SessionMethods, TokenMethods,
};
use crate::AppState;

/// Every method, registered once and served by both `/ws` and `/rpc`.
pub fn build_methods(state: &AppState) -> Methods {
    build_module(state).into()
}

/// The merged module (also used to list the registered method names).
pub fn build_module(state: &AppState) -> RpcModule<()> {
    let mut module = RpcModule::new(());
    let parts: [Methods; 13] = [
        ApprovalMethods::new(state.clone()).into_rpc().into(),
        ChatMethods::new(state.clone()).into_rpc().into(),
        SessionMethods::new(state.clone()).into_rpc().into(),
        AgentMethods::new(state.clone()).into_rpc().into(),
        EventMethods::new(state.clone()).into_rpc().into(),
        GatewayMethods::new(state.clone()).into_rpc().into(),
        TokenMethods::new(state.clone()).into_rpc().into(),
        ConnectionMethods::new(state.clone()).into_rpc().into(),
        AuditMethods::new(state.clone()).into_rpc().into(),
        ConfigMethods::new(state.clone()).into_rpc().into(),
        ModelsApiServer::into_rpc(ListMethods::new(state.clone())).into(),
        CommandsApiServer::into_rpc(ListMethods::new(state.clone())).into(),
        QuestionApiServer::into_rpc(ListMethods::new(state.clone())).into(),
    ];
    for part in parts {
        // Names are unique by construction (one family per namespace); a clash is a bug
        // caught by the catalogue tests.
        if let Err(e) = module.merge(part) {
            tracing::error!(error = %e, "duplicate method name");
        }
    }
    module
}
