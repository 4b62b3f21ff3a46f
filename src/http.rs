//! HTTP requests in words, for health checks and notifications alike.

use std::time::Duration;

use crate::playbook::duration::format_human;

/// A request's failure in words: `no answer within 5s`, `cannot connect: Connection refused`.
pub(crate) fn describe_reqwest(e: &reqwest::Error, limit: Duration) -> String {
    if e.is_timeout() {
        return format!(
            "no answer within {}",
            format_human(crate::event::millis(limit))
        );
    }
    if e.is_connect() {
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            if let Some(io) = s.downcast_ref::<std::io::Error>() {
                return format!("cannot connect: {}", crate::text::os_error(io));
            }
            source = s.source();
        }
        return "cannot connect".to_owned();
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}
