//! Tokens: insert, look up, list, revoke, touch.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use switchboard_api::{Role, Scope};

use super::{Store, scope};
use crate::StoreError;
use crate::entity::token;

/// A token to store. `hash` is the argon2id PHC string; the secret never reaches the store.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Lookup id.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Role granted.
    pub role: Role,
    /// argon2id PHC hash.
    pub hash: String,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Expiry, unix ms.
    pub expires_at: Option<i64>,
    /// Where it may act (SPEC §18); `None`: everywhere. Checked by the caller, stored as given.
    pub scope: Option<Scope>,
}

/// A stored token.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Lookup id.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Role granted.
    pub role: Role,
    /// argon2id PHC hash.
    pub hash: String,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Expiry, unix ms.
    pub expires_at: Option<i64>,
    /// Revocation time, unix ms.
    pub revoked_at: Option<i64>,
    /// Last use, unix ms.
    pub last_used_at: Option<i64>,
    /// Where it may act (SPEC §18); `None`: everywhere.
    pub scope: Option<Scope>,
}

impl std::fmt::Debug for TokenRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl TokenRecord {
    /// Whether it can still be used at `now` (not revoked, not expired).
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }
}

impl TryFrom<token::Model> for TokenRecord {
    type Error = StoreError;

    fn try_from(m: token::Model) -> Result<Self, StoreError> {
        let role = m.role.parse().map_err(|e| StoreError::Corrupt {
            table: "tokens",
            detail: format!("token {}: {e}", m.id),
        })?;
        let scope = scope::decode("tokens", &format!("token {}", m.id), m.scope.as_deref())?;
        Ok(TokenRecord {
            id: m.id,
            name: m.name,
            role,
            hash: m.hash,
            created_at: m.created_at,
            expires_at: m.expires_at,
            revoked_at: m.revoked_at,
            last_used_at: m.last_used_at,
            scope,
        })
    }
}

impl Store {
    /// Stores a new token.
    pub async fn insert_token(&self, new: NewToken) -> Result<(), StoreError> {
        let scope = scope::encode("tokens", new.scope.as_ref())?;
        token::Entity::insert(token::ActiveModel {
            id: Set(new.id),
            name: Set(new.name),
            role: Set(new.role.as_str().to_owned()),
            hash: Set(new.hash),
            created_at: Set(new.created_at),
            expires_at: Set(new.expires_at),
            revoked_at: Set(None),
            last_used_at: Set(None),
            scope: Set(scope),
        })
        .exec(self.conn())
        .await?;
        Ok(())
    }

    /// One token by id.
    pub async fn get_token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        token::Entity::find_by_id(id.to_owned())
            .one(self.conn())
            .await?
            .map(TokenRecord::try_from)
            .transpose()
    }

    /// Every token, oldest first.
    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        token::Entity::find()
            .order_by_asc(token::Column::CreatedAt)
            .order_by_asc(token::Column::Id)
            .all(self.conn())
            .await?
            .into_iter()
            .map(TokenRecord::try_from)
            .collect()
    }

    /// Marks a token revoked at `at` (an earlier revocation time is kept). `false` when there is
    /// no such token.
    pub async fn revoke_token(&self, id: &str, at: i64) -> Result<bool, StoreError> {
        let Some(existing) = self.get_token(id).await? else {
            return Ok(false);
        };
        if existing.revoked_at.is_none() {
            token::Entity::update_many()
                .col_expr(token::Column::RevokedAt, Expr::value(at))
                .filter(token::Column::Id.eq(id))
                .filter(token::Column::RevokedAt.is_null())
                .exec(self.conn())
                .await?;
        }
        Ok(true)
    }

    /// Records a successful use.
    pub async fn touch_token(&self, id: &str, at: i64) -> Result<(), StoreError> {
        token::Entity::update_many()
            .col_expr(token::Column::LastUsedAt, Expr::value(at))
            .filter(token::Column::Id.eq(id))
            .exec(self.conn())
            .await?;
        Ok(())
    }

    /// Whether some admin token is usable at `now`.
    pub async fn has_active_admin_token(&self, now: i64) -> Result<bool, StoreError> {
        let admins = token::Entity::find()
            .filter(token::Column::Role.eq(Role::Admin.as_str()))
            .filter(token::Column::RevokedAt.is_null())
            .all(self.conn())
            .await?;
        Ok(admins
            .iter()
            .any(|t| t.expires_at.is_none_or(|at| at > now)))
    }
}
