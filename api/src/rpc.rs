//! The methods as jsonrpsee `#[rpc]` traits, one per family: the server implements the
//! `…Server` traits; with the `client` feature, `…Client` gives a typed client over any
//! jsonrpsee transport. Object params (`param_kind = map`) throughout.

#![allow(missing_docs)] // the macro generates items that cannot carry docs
#![allow(clippy::too_many_arguments)] // `connect` takes both protocols' shapes as named params

use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;

use crate::types::{
    AbortResult, AgentList, ApprovalList, ChatSendResult, ChatStartResult, CommandList,
    DeleteResult, History, ModelList, PublicConfig, QuestionList, ResolveResult, SessionDetail,
    SessionList,
};
use crate::types::{
    AuditList, ClientInfo, ConnectAuth, ConnectResult, ConnectionList, CreatedTokenInfo,
    HealthResult, KickResult, RevokeResult, StatusResult, TokenList,
};
use crate::{Role, Scope};

/// `connect`, `health`, `status`.
#[cfg_attr(not(feature = "client"), rpc(server))]
#[cfg_attr(feature = "client", rpc(server, client))]
pub trait GatewayApi {
    /// Authenticates this connection. Both GoClaw's and OpenClaw's shapes are accepted.
    #[allow(clippy::too_many_arguments)]
    #[method(name = "connect", param_kind = map, with_extensions)]
    async fn connect(
        &self,
        token: Option<String>,
        user_id: Option<String>,
        client: Option<ClientInfo>,
        #[argument(rename = "minProtocol")] min_protocol: Option<u32>,
        #[argument(rename = "maxProtocol")] max_protocol: Option<u32>,
        role: Option<String>,
        scopes: Option<Vec<String>>,
        auth: Option<ConnectAuth>,
    ) -> RpcResult<ConnectResult>;

    /// Liveness, callable before `connect`.
    #[method(name = "health")]
    fn health(&self) -> RpcResult<HealthResult>;

    /// Gateway status.
    #[method(name = "status", with_extensions)]
    async fn status(&self) -> RpcResult<StatusResult>;
}

/// `tokens.create`, `tokens.list`, `tokens.revoke`.
#[cfg_attr(
    not(feature = "client"),
    rpc(server, namespace = "tokens", namespace_separator = ".")
)]
#[cfg_attr(
    feature = "client",
    rpc(server, client, namespace = "tokens", namespace_separator = ".")
)]
pub trait TokensApi {
    /// Creates a token; the reply is the only time it is shown. `scope` (SPEC §18) narrows a
    /// viewer or operator token to some agents and sessions.
    #[method(name = "create", param_kind = map, with_extensions)]
    async fn create(
        &self,
        name: String,
        role: Role,
        #[argument(rename = "expiresInS")] expires_in_s: Option<u64>,
        scope: Option<Scope>,
    ) -> RpcResult<CreatedTokenInfo>;

    /// Lists tokens.
    #[method(name = "list")]
    async fn list(&self) -> RpcResult<TokenList>;

    /// Revokes a token and closes its live connections.
    #[method(name = "revoke", param_kind = map, with_extensions)]
    async fn revoke(&self, id: String) -> RpcResult<RevokeResult>;
}

/// `connections.list`, `connections.kick`.
#[cfg_attr(
    not(feature = "client"),
    rpc(server, namespace = "connections", namespace_separator = ".")
)]
#[cfg_attr(
    feature = "client",
    rpc(server, client, namespace = "connections", namespace_separator = ".")
)]
pub trait ConnectionsApi {
    /// Lists live WebSocket connections.
    #[method(name = "list")]
    async fn list(&self) -> RpcResult<ConnectionList>;

    /// Closes a connection with 1008 and the reason.
    #[method(name = "kick", param_kind = map, with_extensions)]
    async fn kick(
        &self,
        #[argument(rename = "connectionId")] connection_id: String,
        reason: Option<String>,
    ) -> RpcResult<KickResult>;
}

/// `audit.list`.
#[cfg_attr(
    not(feature = "client"),
    rpc(server, namespace = "audit", namespace_separator = ".")
)]
#[cfg_attr(
    feature = "client",
    rpc(server, client, namespace = "audit", namespace_separator = ".")
)]
pub trait AuditApi {
    /// Audit entries, newest first.
    #[method(name = "list", param_kind = map)]
    async fn list(&self, limit: Option<u64>, before: Option<i64>) -> RpcResult<AuditList>;
}

/// `config.get`, `config.public`.
#[cfg_attr(
    not(feature = "client"),
    rpc(server, namespace = "config", namespace_separator = ".")
)]
#[cfg_attr(
    feature = "client",
    rpc(server, client, namespace = "config", namespace_separator = ".")
)]
pub trait ConfigApi {
    /// The effective configuration, secrets redacted.
    #[method(name = "get")]
    fn get(&self) -> RpcResult<serde_json::Value>;

    /// What any reader may know of the configuration: keepalive and frame limits, `limits`,
    /// agents — no URLs, paths, tokens or store location.
    #[method(name = "public")]
    fn public(&self) -> RpcResult<PublicConfig>;
}

/// `chat.send`, `chat.start`, `chat.abort`, `chat.history`. Each names its session by
/// `sessionId` or by `sessionKey` (`agent:<agentId>:<name>`; a bare name belongs to `agentId` or
/// `main`), not both.
#[cfg_attr(
    not(feature = "client"),
    rpc(server, namespace = "chat", namespace_separator = ".")
)]
#[cfg_attr(
    feature = "client",
    rpc(server, client, namespace = "chat", namespace_separator = ".")
)]
pub trait ChatApi {
    /// Sends a message to an agent and answers after the run; the caller's `/ws` connection
    /// receives the run's events without subscribing.
    #[method(name = "send", param_kind = map, with_extensions)]
    async fn send(
        &self,
        #[argument(rename = "agentId")] agent_id: Option<String>,
        message: Option<serde_json::Value>,
        #[argument(rename = "sessionId")] session_id: Option<String>,
        #[argument(rename = "sessionKey")] session_key: Option<String>,
        channel: Option<String>,
        #[argument(rename = "idempotencyKey")] idempotency_key: Option<String>,
    ) -> RpcResult<ChatSendResult>;

    /// Like `send`, but answers as soon as the run is durably queued; the caller's `/ws`
    /// connection receives the run's events until it ends.
    #[method(name = "start", param_kind = map, with_extensions)]
    async fn start(
        &self,
        #[argument(rename = "agentId")] agent_id: Option<String>,
        message: Option<serde_json::Value>,
        #[argument(rename = "sessionId")] session_id: Option<String>,
        #[argument(rename = "sessionKey")] session_key: Option<String>,
        #[argument(rename = "idempotencyKey")] idempotency_key: Option<String>,
    ) -> RpcResult<ChatStartResult>;

    /// Aborts the session's running run (or the named queued one).
    #[method(name = "abort", param_kind = map, with_extensions)]
    async fn abort(
        &self,
        #[argument(rename = "sessionId")] session_id: Option<String>,
        #[argument(rename = "sessionKey")] session_key: Option<String>,
        #[argument(rename = "agentId")] agent_id: Option<String>,
        #[argument(rename = "runId")] run_id: Option<String>,
    ) -> RpcResult<AbortResult>;

    /// A page of the session's messages.
    #[method(name = "history", param_kind = map)]
    async fn history(
        &self,
        #[argument(rename = "sessionId")] session_id: Option<String>,
        #[argument(rename = "sessionKey")] session_key: Option<String>,
        #[argument(rename = "agentId")] agent_id: Option<String>,
        limit: Option<u64>,
        before: Option<i64>,
    ) -> RpcResult<History>;
}

/// `sessions.list`, `sessions.get`, `sessions.delete`.
#[cfg_attr(
    not(feature = "client"),
    rpc(server, namespace = "sessions", namespace_separator = ".")
)]
#[cfg_attr(
    feature = "client",
    rpc(server, client, namespace = "sessions", namespace_separator = ".")
)]
pub trait SessionsApi {
    /// Sessions, most recently updated first.
    #[method(name = "list", param_kind = map, with_extensions)]
    async fn list(
        &self,
        #[argument(rename = "agentId")] agent_id: Option<String>,
        #[argument(rename = "userId")] user_id: Option<String>,
        limit: Option<u64>,
        cursor: Option<String>,
        #[argument(rename = "includeLastMessage")] include_last_message: Option<bool>,
    ) -> RpcResult<SessionList>;

    /// One session, by `sessionId` or `sessionKey`.
    #[method(name = "get", param_kind = map)]
    async fn get(
        &self,
        #[argument(rename = "sessionId")] session_id: Option<String>,
        #[argument(rename = "sessionKey")] session_key: Option<String>,
        #[argument(rename = "agentId")] agent_id: Option<String>,
    ) -> RpcResult<SessionDetail>;

    /// Deletes a session with its messages and events, telling live subscribers.
    #[method(name = "delete", param_kind = map, with_extensions)]
    async fn delete(
        &self,
        #[argument(rename = "sessionId")] session_id: String,
    ) -> RpcResult<DeleteResult>;
}

/// `agents.list`.
#[cfg_attr(
    not(feature = "client"),
    rpc(server, namespace = "agents", namespace_separator = ".")
)]
#[cfg_attr(
    feature = "client",
    rpc(server, client, namespace = "agents", namespace_separator = ".")
)]
pub trait AgentsApi {
    /// Configured agents.
    #[method(name = "list")]
    fn list(&self) -> RpcResult<AgentList>;
}

/// `models.list`.
#[cfg_attr(
    not(feature = "client"),
    rpc(server, namespace = "models", namespace_separator = ".")
)]
#[cfg_attr(
    feature = "client",
    rpc(server, client, namespace = "models", namespace_separator = ".")
)]
pub trait ModelsApi {
    /// One model per configured agent.
    #[method(name = "list")]
    fn list(&self) -> RpcResult<ModelList>;
}

/// `commands.list`.
#[cfg_attr(
    not(feature = "client"),
    rpc(server, namespace = "commands", namespace_separator = ".")
)]
#[cfg_attr(
    feature = "client",
    rpc(server, client, namespace = "commands", namespace_separator = ".")
)]
pub trait CommandsApi {
    /// Slash commands the gateway offers: none (a client's are its own).
    #[method(name = "list")]
    fn list(&self) -> RpcResult<CommandList>;
}

/// `question.list`.
#[cfg_attr(
    not(feature = "client"),
    rpc(server, namespace = "question", namespace_separator = ".")
)]
#[cfg_attr(
    feature = "client",
    rpc(server, client, namespace = "question", namespace_separator = ".")
)]
pub trait QuestionApi {
    /// Questions agents wait on: none (agents here ask none).
    #[method(name = "list")]
    fn list(&self) -> RpcResult<QuestionList>;
}

/// `subscribe` / `unsubscribe`: events as notifications of method `event`.
#[cfg_attr(not(feature = "client"), rpc(server))]
#[cfg_attr(feature = "client", rpc(server, client))]
pub trait EventsApi {
    /// Subscribes to a topic (the Rust name avoids jsonrpsee's own `subscribe`), first replaying stored events after `afterSeq` (session topics).
    #[subscription(name = "subscribe" => "event", unsubscribe = "unsubscribe", item = crate::types::EventMessage, param_kind = map, with_extensions)]
    async fn subscribe_topic(
        &self,
        topic: String,
        #[argument(rename = "afterSeq")] after_seq: Option<i64>,
    ) -> jsonrpsee::core::SubscriptionResult;
}

/// `approvals.list`, `approvals.resolve`.
#[cfg_attr(
    not(feature = "client"),
    rpc(server, namespace = "approvals", namespace_separator = ".")
)]
#[cfg_attr(
    feature = "client",
    rpc(server, client, namespace = "approvals", namespace_separator = ".")
)]
pub trait ApprovalsApi {
    /// Pending approvals (also after a reconnect: they are stored).
    #[method(name = "list", with_extensions)]
    async fn list(&self) -> RpcResult<ApprovalList>;

    /// Approves or denies a pending tool call.
    #[method(name = "resolve", param_kind = map, with_extensions)]
    async fn resolve(
        &self,
        #[argument(rename = "approvalId")] approval_id: String,
        approved: bool,
        reason: Option<String>,
    ) -> RpcResult<ResolveResult>;
}
