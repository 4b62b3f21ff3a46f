//! Events → the run's record: secret masking now; the journal, report and lock to come.

pub mod redact;
