//! A token's scope in a row: the JSON of a [`Scope`] in a nullable TEXT column (`tokens.scope`,
//! `audit.scope`); NULL is "everywhere".

use switchboard_api::Scope;

use crate::StoreError;

/// The column value for `scope`.
pub(super) fn encode(
    table: &'static str,
    scope: Option<&Scope>,
) -> Result<Option<String>, StoreError> {
    scope
        .map(|scope| {
            serde_json::to_string(scope).map_err(|e| StoreError::Corrupt {
                table,
                detail: format!("scope not representable: {e}"),
            })
        })
        .transpose()
}

/// The scope a column value holds; a value this version cannot read is a corrupt row (it is
/// never read as "everywhere").
pub(super) fn decode(
    table: &'static str,
    row: &str,
    column: Option<&str>,
) -> Result<Option<Scope>, StoreError> {
    column
        .map(|json| {
            serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
                table,
                detail: format!("{row}: scope {json:?}: {e}"),
            })
        })
        .transpose()
}
