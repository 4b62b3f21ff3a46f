//! A draft as a generic JSON POST (`[notify.webhook]`), for chat tools other than Slack and for
//! paging: the event's name, the run, the plain text, and the event's own fields.

use serde_json::{Value, json};

use crate::notify::message::Draft;

/// The JSON body for `[notify.webhook]`.
pub(crate) fn payload(draft: &Draft) -> Value {
    let f = &draft.footer;
    let mut body = json!({
        "event": draft.about.as_str(),
        "ts": draft.ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "run_id": f.run_id,
        "playbook": f.playbook,
        "version": f.version,
        "mode": f.mode.as_str(),
        "env": f.env,
        "commander": f.commander,
        "ticket": f.ticket,
        "elapsed_ms": f.elapsed_ms,
        "rto_objective_ms": f.rto_objective_ms,
        "text": draft.fallback(),
    });
    if let Some(map) = body.as_object_mut() {
        for (k, v) in &draft.data {
            map.insert(k.clone(), v.clone());
        }
        if !draft.tail.is_empty() {
            map.insert("log_tail".into(), json!(draft.tail));
        }
    }
    body
}
