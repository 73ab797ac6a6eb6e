//! `SessionLog`: the one writer of a session's event log. A task per active session takes
//! events in order, gives each the next `sessionSeq`, stores it, and only then publishes it,
//! so replay (from the store) and live delivery (from the hub) never disagree.

use std::sync::Arc;

use serde_json::{Map, Value};
use switchboard_storage::{NewEvent, Store, StoreError, now_ms};
use tokio::sync::{mpsc, oneshot};

use crate::hub::{EventHub, HubEvent};

/// Events waiting for the writer, per session, at most.
const LOG_QUEUE: usize = 64;

struct Append {
    run_id: Option<String>,
    name: &'static str,
    fields: Map<String, Value>,
    done: oneshot::Sender<Result<i64, StoreError>>,
}

/// A handle to a session's log writer. Cheap to clone; the writer stops when every handle is
/// gone.
#[derive(Debug, Clone)]
pub struct SessionLog {
    tx: mpsc::Sender<Append>,
}

impl SessionLog {
    /// Starts the writer for `session_id`; it continues after the stored last sequence.
    pub fn start(store: Store, hub: EventHub, session_id: &str, agent_id: &str) -> SessionLog {
        let (tx, rx) = mpsc::channel(LOG_QUEUE);
        let session: Arc<str> = session_id.into();
        let agent: Arc<str> = agent_id.into();
        tokio::spawn(write(store, hub, session, agent, rx));
        SessionLog { tx }
    }

    /// Appends an event with `fields` plus `sessionId`, `runId` and `sessionSeq`; answers with
    /// its sequence number once it is stored and published.
    pub async fn emit(
        &self,
        run_id: Option<&str>,
        name: &'static str,
        fields: Map<String, Value>,
    ) -> Result<i64, StoreError> {
        let (done, answer) = oneshot::channel();
        let append = Append {
            run_id: run_id.map(str::to_owned),
            name,
            fields,
            done,
        };
        let gone = || StoreError::Corrupt {
            table: "events",
            detail: "the session's log writer stopped".to_owned(),
        };
        self.tx.send(append).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn write(
    store: Store,
    hub: EventHub,
    session: Arc<str>,
    agent: Arc<str>,
    mut rx: mpsc::Receiver<Append>,
) {
    let mut last = match store.get_session(&session).await {
        Ok(Some(s)) => s.last_seq,
        Ok(None) => -1,
        Err(e) => {
            tracing::warn!(error = %e, session = %session, "cannot read the session's last sequence");
            -1
        }
    };
    while let Some(append) = rx.recv().await {
        let seq = last + 1;
        let mut payload = Map::with_capacity(append.fields.len() + 3);
        payload.insert("sessionId".to_owned(), Value::from(&*session));
        payload.insert(
            "runId".to_owned(),
            append.run_id.as_deref().map_or(Value::Null, Value::from),
        );
        payload.insert("sessionSeq".to_owned(), Value::from(seq));
        payload.extend(append.fields);
        let payload = Value::Object(payload).to_string();
        let event = NewEvent {
            run_id: append.run_id.clone(),
            event: append.name.to_owned(),
            payload: payload.clone(),
            created_at: now_ms(),
        };
        let write = std::time::Instant::now();
        let stored = store
            .append_events_after(&session, last, std::slice::from_ref(&event))
            .await;
        crate::telemetry::record_store("append_events", write.elapsed());
        let answer = match stored {
            Ok(new_last) => {
                last = new_last;
                hub.publish(&HubEvent {
                    name: append.name.into(),
                    session_id: Some(session.clone()),
                    agent_id: Some(agent.clone()),
                    run_id: append.run_id.as_deref().map(Arc::from),
                    seq: Some(seq),
                    lifecycle: false,
                    body: HubEvent::body(append.name, &payload),
                });
                Ok(seq)
            }
            Err(e) => {
                // The stored sequence may have moved (e.g. the session was deleted): re-read it.
                if let Ok(Some(s)) = store.get_session(&session).await {
                    last = s.last_seq;
                }
                Err(e)
            }
        };
        let _ = append.done.send(answer);
    }
}
