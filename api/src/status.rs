//! The states a run and an approval move through, with their wire names.

use serde::{Deserialize, Serialize};

/// Where a run is in its life. The same strings are the `status` of `agent` events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Waiting behind another run of the same session.
    Queued,
    /// The agent is working.
    Started,
    /// Finished normally.
    Completed,
    /// Ended by an error (or by a crash, noticed at the next start).
    Failed,
    /// Ended by `chat.abort`.
    Aborted,
    /// Ended by `agents.run_timeout_s`.
    Timeout,
}

impl RunStatus {
    /// Every status.
    pub const ALL: [RunStatus; 6] = [
        RunStatus::Queued,
        RunStatus::Started,
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::Aborted,
        RunStatus::Timeout,
    ];

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Started => "started",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Aborted => "aborted",
            RunStatus::Timeout => "timeout",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// Whether the run has ended.
    pub const fn is_final(self) -> bool {
        !matches!(self, RunStatus::Queued | RunStatus::Started)
    }
}

/// Where a tool approval is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalStatus {
    /// Waiting for `approvals.resolve`.
    Pending,
    /// Approved by an operator.
    Approved,
    /// Denied by an operator.
    Denied,
    /// Denied because nobody answered within `approvals.timeout_s`.
    Timeout,
}

impl ApprovalStatus {
    /// Every status.
    pub const ALL: [ApprovalStatus; 4] = [
        ApprovalStatus::Pending,
        ApprovalStatus::Approved,
        ApprovalStatus::Denied,
        ApprovalStatus::Timeout,
    ];

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::Timeout => "timeout",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }
}
