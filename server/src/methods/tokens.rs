//! `tokens.create`, `tokens.list`, `tokens.revoke`.

use std::time::Duration;

use jsonrpsee::Extensions;
use jsonrpsee::core::{RpcResult, async_trait};
use switchboard_api::rpc::TokensApiServer;
use switchboard_api::types::{CreatedTokenInfo, RevokeResult, TokenInfo, TokenList};
use switchboard_api::{Role, Scope};
use switchboard_auth::{AuthError, TokenGrant};

use super::caller;
use crate::AppState;
use crate::rpc::ApiError;

/// The longest token name accepted.
const MAX_NAME: usize = 255;

/// The tokens family.
#[derive(Debug)]
pub struct TokenMethods {
    state: AppState,
}

impl TokenMethods {
    /// Handlers over `state`.
    pub fn new(state: AppState) -> Self {
        TokenMethods { state }
    }
}

fn auth_error(e: AuthError) -> ApiError {
    match e {
        AuthError::Store(e) => e.into(),
        other => ApiError::internal(other),
    }
}

#[async_trait]
impl TokensApiServer for TokenMethods {
    async fn create(
        &self,
        ext: &Extensions,
        name: String,
        role: Role,
        expires_in_s: Option<u64>,
        scope: Option<Scope>,
    ) -> RpcResult<CreatedTokenInfo> {
        let conn = caller(ext)?;
        let name = name.trim().to_owned();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            return Err(
                ApiError::InvalidRequest(format!("name must be 1–{MAX_NAME} characters")).into(),
            );
        }
        if expires_in_s == Some(0) {
            return Err(ApiError::InvalidRequest("expiresInS must be positive".to_owned()).into());
        }
        // Agents and sessions named need not exist yet: an agent may be configured later, a
        // session created later; the scope covers them then.
        let grant =
            TokenGrant::new(role, scope).map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
        let created = self
            .state
            .verifier
            .create_granted(&name, grant, expires_in_s.map(Duration::from_secs))
            .await
            .map_err(auth_error)?;
        let detail = match &created.scope {
            Some(scope) => format!(
                "{name} ({role}, scope {})",
                serde_json::to_string(scope).unwrap_or_default()
            ),
            None => format!("{name} ({role})"),
        };
        self.state.audit.record_by(
            &conn,
            "token.create",
            Some(created.id.clone()),
            "ok",
            Some(detail),
        );
        Ok(CreatedTokenInfo {
            id: created.id,
            token: created.token,
            name: created.name,
            role: created.role,
            created_at: created.created_at,
            expires_at: created.expires_at,
            scope: created.scope,
        })
    }

    async fn list(&self) -> RpcResult<TokenList> {
        let tokens = self
            .state
            .store
            .list_tokens()
            .await
            .map_err(ApiError::from)?;
        Ok(TokenList {
            tokens: tokens
                .into_iter()
                .map(|t| TokenInfo {
                    id: t.id,
                    name: t.name,
                    role: t.role,
                    created_at: t.created_at,
                    expires_at: t.expires_at,
                    last_used_at: t.last_used_at,
                    revoked: t.revoked_at.is_some(),
                    scope: t.scope,
                })
                .collect(),
        })
    }

    async fn revoke(&self, ext: &Extensions, id: String) -> RpcResult<RevokeResult> {
        let conn = caller(ext)?;
        if !self.state.verifier.revoke(&id).await.map_err(auth_error)? {
            return Err(ApiError::NotFound(format!("no token with id {id}")).into());
        }
        let closed = self.state.connections.close_by_token(&id, "token revoked");
        crate::admin::token_revoked(&self.state, &id);
        self.state.audit.record_by(
            &conn,
            "token.revoke",
            Some(id),
            "ok",
            Some(format!("closed {closed} connection(s)")),
        );
        Ok(RevokeResult {
            revoked: true,
            closed_connections: closed,
        })
    }
}
