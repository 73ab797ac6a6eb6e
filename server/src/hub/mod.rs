//! The event hub: topics, subscriptions, fan-out, and the hand-over from replay to live.
//!
//! Session events are stored before they are published (the run writes them), so the hub only
//! delivers. Each event is serialized once; every subscribed connection gets the same bytes.
//! A connection receives an event at most once, however many of its subscriptions match. A
//! live event that finds a connection's queue full closes that connection as a slow consumer
//! (it resumes with `afterSeq`); the producer and every other connection carry on.

mod event;
mod registry;
mod topic;

pub use event::HubEvent;
pub use registry::{Attach, EventHub};
pub use topic::Topic;
