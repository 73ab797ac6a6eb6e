//! Handlers of the messages other nodes send, by kind: registered at start by the rooms whose
//! messages they are (runs, admin), called by the broker.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use futures_util::future::BoxFuture;
use serde_json::Value;

/// Answers a request. The synchronous part runs as the request is read, in arrival order (a
/// run is queued there, so FIFO order holds across nodes); the future it returns gives the
/// answer.
pub type RequestHandler = Arc<dyn Fn(Value) -> BoxFuture<'static, Value> + Send + Sync>;

/// Acts on a notice.
pub type NoticeHandler = Arc<dyn Fn(Value) + Send + Sync>;

/// The handlers of this node. A cheap `Clone` handle; a std lock held only to look one up.
#[derive(Clone, Default)]
pub struct Handlers {
    requests: Arc<RwLock<HashMap<String, RequestHandler>>>,
    notices: Arc<RwLock<HashMap<String, NoticeHandler>>>,
}

impl std::fmt::Debug for Handlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handlers").finish_non_exhaustive()
    }
}

impl Handlers {
    /// Answers requests of `kind` with `handler`.
    pub fn on_request(&self, kind: &str, handler: RequestHandler) {
        self.requests
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(kind.to_owned(), handler);
    }

    /// Acts on notices of `kind` with `handler`.
    pub fn on_notice(&self, kind: &str, handler: NoticeHandler) {
        self.notices
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(kind.to_owned(), handler);
    }

    /// The handler of requests of `kind`.
    pub fn request(&self, kind: &str) -> Option<RequestHandler> {
        self.requests
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(kind)
            .cloned()
    }

    /// The handler of notices of `kind`.
    pub fn notice(&self, kind: &str) -> Option<NoticeHandler> {
        self.notices
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(kind)
            .cloned()
    }
}
