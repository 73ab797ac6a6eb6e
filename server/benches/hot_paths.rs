//! Micro-benchmarks of the hot paths (`cargo bench -p switchboard`): the frame codec, the role
//! gate, an event's serialization and its fan-out to N in-memory connections, and a token
//! cache hit. `switchboard bench` measures the whole server; these say where the time goes.

use std::net::SocketAddr;
use std::sync::Arc;

use divan::{Bencher, black_box};
use jsonrpsee::core::middleware::{RpcServiceBuilder, RpcServiceT};
use jsonrpsee::server::{MethodSink, Methods};
use jsonrpsee::types::{Id, Request};
use jsonrpsee::{ConnectionId, Extensions, RpcModule};
use serde_json::json;
use serde_json::value::RawValue;
use switchboard::audit::AuditLog;
use switchboard::connections::{Closer, ConnectionState, Identity, Protocol};
use switchboard::gate::{RoleGate, ScopeCheck};
use switchboard::hub::EventHub;
use switchboard::runs::{LogEvent, number_event};
use switchboard::ws::codec::{parse_request, to_frame_with};
use switchboard::ws::{EventQueue, FrameRpcService};
use switchboard_api::Role;
use switchboard_api::events::{ChatPayload, Event};
use switchboard_auth::{Principal, TokenVerifier, VerifierOptions};
use tokio::sync::mpsc;

fn main() {
    divan::main();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// A `chat` event of run `run_1` with a reply of `words` words so far.
fn chat_event(words: usize) -> LogEvent {
    let chunk = (0..words).map(|i| format!("w{i} ")).collect::<String>();
    let delta = "w0 ".to_owned();
    LogEvent::of_run("run_1", Event::Chat(ChatPayload { delta, chunk }))
}

/// A `/ws` connection's outbound side: its channel and the event bodies behind its markers.
type Outbox = (mpsc::Receiver<Box<RawValue>>, Arc<EventQueue>);

/// A `/ws` connection of `role` and its outbound side.
fn connection(id: usize, role: Role, capacity: usize) -> (Arc<ConnectionState>, Outbox) {
    let (tx, rx) = mpsc::channel(capacity);
    let sink = MethodSink::new(tx);
    let events = Arc::new(EventQueue::new(sink));
    let addr: SocketAddr = "127.0.0.1:9".parse().expect("an address");
    let conn = Arc::new(ConnectionState::new(
        id.to_string(),
        Protocol::Frames,
        addr,
        None,
        16,
        Closer::new(|_, _| {}),
        Some(events.clone()),
    ));
    conn.set_identity(Identity {
        principal: Principal::anonymous(role),
        user_id: format!("user-{id}"),
    });
    (conn, (rx, events))
}

mod frames {
    use super::*;

    /// A `req` frame → JSON-RPC request parts.
    #[divan::bench]
    fn decode_request(b: Bencher) {
        let text = r#"{"type":"req","id":"42","method":"chat.send","params":{"sessionId":"ses_0123456789abcdef","message":"hello there"}}"#;
        b.bench(|| parse_request(black_box(text)));
    }

    /// A JSON-RPC response → a `res` frame.
    #[divan::bench]
    fn encode_response(b: Bencher) {
        let response = RawValue::from_string(
            r#"{"jsonrpc":"2.0","id":"42","result":{"status":"ok","uptimeMs":1234,"connections":16}}"#
                .to_owned(),
        )
        .expect("JSON");
        b.bench(|| {
            let mut seq = 0;
            to_frame_with(black_box(&response), &mut seq, &|_| None)
        });
    }

    /// An event body from the hub → an `event` frame, for replies of 1, 100 and 1000 words
    /// (the `chunk` field carries the reply so far).
    #[divan::bench(args = [1, 100, 1000])]
    fn encode_event(b: Bencher, words: usize) {
        let (_, event) = number_event(&"ses_1".into(), &"main".into(), 7, chat_event(words), 0);
        b.bench(|| {
            let mut seq = 0;
            to_frame_with(black_box(&event.body), &mut seq, &|_| None)
        });
    }
}

mod gate {
    use super::*;

    fn methods() -> Methods {
        let mut module = RpcModule::new(());
        module
            .register_method("sessions.list", |_, _, _| json!({ "sessions": [] }))
            .expect("registered");
        module.into()
    }

    fn request(conn: &Arc<ConnectionState>) -> Request<'static> {
        let mut request = Request::owned("sessions.list".to_owned(), None, Id::Number(1));
        let mut extensions = Extensions::new();
        extensions.insert(ConnectionId(1));
        extensions.insert(conn.clone());
        *request.extensions_mut() = extensions;
        request
    }

    /// A call to an operator method through the role gate into `Methods`.
    #[divan::bench]
    fn gated_call(b: Bencher) {
        let rt = runtime();
        let (conn, _rx) = connection(1, Role::Operator, 64);
        let (tx, _sink_rx) = mpsc::channel(64);
        // The server always records call metrics: measure with the recorder installed.
        switchboard::telemetry::prometheus();
        let service = rt.block_on(async {
            let store_dir = tempfile::tempdir().expect("a temp dir");
            let store = switchboard_storage::Store::connect(&format!(
                "sqlite://{}/bench.db",
                store_dir.path().display()
            ))
            .await
            .expect("a store");
            RpcServiceBuilder::new()
                .layer(RoleGate::new(
                    None,
                    AuditLog::start(store.clone()),
                    ScopeCheck::new(store, vec!["main".to_owned()]),
                ))
                .service(FrameRpcService::new(
                    methods(),
                    ConnectionId(1),
                    MethodSink::new(tx),
                    16,
                    1 << 20,
                ))
        });
        b.bench_local(|| rt.block_on(service.call(request(&conn))));
    }

    /// The same call without the gate: the difference is the gate's cost.
    #[divan::bench]
    fn ungated_call(b: Bencher) {
        let rt = runtime();
        let (conn, _rx) = connection(1, Role::Operator, 64);
        let (tx, _sink_rx) = mpsc::channel(64);
        let service =
            FrameRpcService::new(methods(), ConnectionId(1), MethodSink::new(tx), 16, 1 << 20);
        b.bench_local(|| rt.block_on(service.call(request(&conn))));
    }
}

mod events {
    use super::*;

    /// A `chat` event numbered, serialized once and wrapped for the hub (1000-word reply).
    #[divan::bench]
    fn serialize(b: Bencher) {
        let event = chat_event(1000);
        b.bench(|| {
            let event = LogEvent {
                run_id: event.run_id.clone(),
                event: event.event.clone(),
            };
            number_event(&"ses_1".into(), &"main".into(), 7, black_box(event), 0)
        });
    }

    /// One event published to N connections (each queues the shared body), then every queue
    /// drained; 100-word reply.
    #[divan::bench(args = [1, 100, 1000])]
    fn fan_out(b: Bencher, connections: usize) {
        let hub = EventHub::default();
        let mut receivers = Vec::with_capacity(connections);
        for i in 0..connections {
            let (conn, rx) = connection(i, Role::Viewer, 4);
            hub.watch_run(&conn, "run_1");
            receivers.push((conn, rx));
        }
        let (_, event) = number_event(&"ses_1".into(), &"main".into(), 7, chat_event(100), 0);
        b.bench_local(|| {
            hub.publish(black_box(&event));
            for (_conn, (rx, events)) in &mut receivers {
                let marker = rx.try_recv().expect("delivered");
                black_box(events.body_for(&marker));
            }
        });
    }
}

mod tokens {
    use super::*;

    /// `connect` with a token verified before: digest and cache lookup, no argon2.
    #[divan::bench]
    fn cached_verify(b: Bencher) {
        let rt = runtime();
        let store_dir = tempfile::tempdir().expect("a temp dir");
        let (verifier, token) = rt.block_on(async {
            let store = switchboard_storage::Store::connect(&format!(
                "sqlite://{}/bench.db",
                store_dir.path().display()
            ))
            .await
            .expect("a store");
            store.migrate().await.expect("migrated");
            let options = VerifierOptions {
                admin_token: None,
                cache_ttl: std::time::Duration::from_secs(600),
            };
            let verifier = TokenVerifier::new(store, options);
            let created = verifier
                .create("bench", Role::Operator, None)
                .await
                .expect("a token");
            verifier.verify(&created.token).await.expect("valid");
            (verifier, created.token)
        });
        b.bench_local(|| rt.block_on(verifier.verify(black_box(&token))));
    }
}
