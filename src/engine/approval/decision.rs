//! The answer to one approval, however it came: a flag, the terminal, or another process.

use crate::engine::inputs::Answer;
use crate::event::{ApprovalHow, Approver};

/// The answer to one approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    Given {
        by: String,
        how: ApprovalHow,
        /// A manual step's answers to its `inputs`, in the order declared.
        answers: Vec<Answer>,
        /// The OS user who gave it (one approval).
        os_user: Option<String>,
        /// Each approval of a request that needed several.
        approvers: Vec<Approver>,
    },
    Declined {
        by: String,
        reason: String,
        os_user: Option<String>,
    },
    /// Nobody answered within `confirm_timeout` (its length, in milliseconds).
    TimedOut(u64),
    /// Nobody could be asked.
    Impossible(String),
    /// The run was interrupted before anybody answered.
    Interrupted,
}
