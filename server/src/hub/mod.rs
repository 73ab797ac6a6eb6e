//! The event hub: topics, subscriptions, fan-out, and the hand-over from replay to live.
//!
//! Session events are stored before they are published (the run writes them), so the hub only
//! delivers. Each event is serialized once; every subscribed connection gets the same bytes.
//! A connection receives an event at most once, however many of its subscriptions match. A
//! live event that finds a connection's queue full closes that connection as a slow consumer
//! (it resumes with `afterSeq`); the producer and every other connection carry on.
//!
//! The hub knows no transport: a connection is a [`Recipient`], and events reach it through
//! an [`EventSink`] — its own queue (`/ws`) or each subscription's notifications (`/rpc`).

pub mod broker;
mod bus;
mod delivery;
mod event;
mod notification;
mod registry;
mod topic;

pub use bus::{EventBus, Pacing, RunEnd, stored_event};
pub use delivery::{Backlog, EventSink, Recipient, Undeliverable};
pub use event::HubEvent;
pub use notification::NotificationSink;
pub use registry::{Attach, EventHub, Pressure, Subscriber};
pub use topic::Topic;
