//! A draft as a Slack incoming-webhook payload: Block Kit `blocks` (header, sections, context)
//! and a top-level `text` fallback for notifications and old clients. Slack's limits are kept:
//! a header holds 150 characters, a section 3000, a context 10 elements.

use serde_json::{Value, json};

use crate::notify::message::Draft;
use crate::notify::text::{Rich, cut, escape};

const HEADER_LIMIT: usize = 150;
const SECTION_LIMIT: usize = 3000;
/// Room for the log tail inside one section, with its title and fences.
const TAIL_LIMIT: usize = 2800;

/// The JSON body for a Slack incoming webhook. `mention` goes on urgent messages only.
pub(crate) fn payload(draft: &Draft, channel: Option<&str>, mention: Option<&str>) -> Value {
    let mention = mention.filter(|_| draft.urgent);
    let mut blocks = vec![json!({
        "type": "header",
        "text": { "type": "plain_text", "text": cut(&draft.headline.bare(), HEADER_LIMIT) },
    })];
    let mut body: Vec<String> = draft.body.iter().map(Rich::mrkdwn).collect();
    if let Some(m) = mention {
        match body.first_mut() {
            Some(first) => *first = format!("{m} {first}"),
            None => body.push(m.to_owned()),
        }
    }
    if !body.is_empty() {
        blocks.push(section(&body.join("\n")));
    }
    if !draft.fields.is_empty() {
        let fields: Vec<Value> = draft
            .fields
            .iter()
            .take(10)
            .map(|(label, value)| {
                let label = Rich::new().bold(label.as_ref()).mrkdwn();
                mrkdwn(&cut(&format!("{label}\n{}", value.mrkdwn()), 2000))
            })
            .collect();
        blocks.push(json!({ "type": "section", "fields": fields }));
    }
    if !draft.tail.is_empty() {
        blocks.push(section(&format!(
            "*Last lines of the log*\n```\n{}\n```",
            tail_text(&draft.tail)
        )));
    }
    let mut context = vec![mrkdwn(&draft.footer.rich().mrkdwn())];
    if draft.footer.is_drill() {
        context.push(mrkdwn(
            "This is a *drill*: a practice run, not a real incident.",
        ));
    }
    blocks.push(json!({ "type": "context", "elements": context }));

    let fallback = escape(&draft.fallback());
    let text = match mention {
        Some(m) => format!("{m} {fallback}"),
        None => fallback,
    };
    let mut payload = json!({ "text": text });
    if let Some(c) = channel {
        payload["channel"] = json!(c);
    }
    payload["blocks"] = Value::Array(blocks);
    payload
}

fn mrkdwn(text: &str) -> Value {
    json!({ "type": "mrkdwn", "text": text })
}

fn section(text: &str) -> Value {
    json!({ "type": "section", "text": mrkdwn(&cut(text, SECTION_LIMIT)) })
}

/// The newest lines that fit, escaped, with code fences in them defused.
fn tail_text(lines: &[String]) -> String {
    let mut kept: Vec<String> = Vec::new();
    let mut size = 0;
    for line in lines.iter().rev() {
        let line = escape(&line.replace("```", "'''"));
        size += line.chars().count() + 1;
        if size > TAIL_LIMIT && !kept.is_empty() {
            break;
        }
        kept.push(cut(&line, TAIL_LIMIT));
    }
    kept.reverse();
    kept.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Mode;
    use crate::notify::message::{About, Footer};

    fn draft(urgent: bool) -> Draft {
        Draft {
            about: About::StepFailed,
            ts: chrono::Utc::now(),
            headline: Rich::new().text("[DRILL] db@1.0.0: step restore failed"),
            body: vec![
                Rich::new()
                    .text("Step ")
                    .code("restore")
                    .text(" failed: <!channel>"),
            ],
            fields: Vec::new(),
            urgent,
            log: None,
            tail: vec!["ERROR: <!here> ```".to_owned()],
            footer: Footer {
                run_id: "r1".into(),
                playbook: "db".into(),
                version: "1.0.0".into(),
                mode: Mode::Drill,
                env: None,
                commander: "alice".into(),
                ticket: None,
                elapsed_ms: 1500,
                rto_objective_ms: Some(60_000),
            },
            data: serde_json::Map::new(),
        }
    }

    #[test]
    fn urgent_messages_mention_and_values_cannot_ping() {
        let p = payload(&draft(true), Some("#dr"), Some("<!subteam^S1>"));
        assert_eq!(p["channel"], "#dr");
        assert_eq!(
            p["text"],
            "<!subteam^S1> [DRILL] db@1.0.0: step restore failed\nStep `restore` failed: &lt;!channel&gt;"
        );
        assert_eq!(
            p["blocks"][1]["text"]["text"],
            "<!subteam^S1> Step `restore` failed: &lt;!channel&gt;"
        );
        assert_eq!(
            p["blocks"][2]["text"]["text"],
            "*Last lines of the log*\n```\nERROR: &lt;!here&gt; '''\n```"
        );
        let context = &p["blocks"][3]["elements"];
        assert_eq!(
            context[0]["text"],
            "`db@1.0.0` · drill · no env · commander alice · 1.5s elapsed of RTO 1m"
        );
        assert!(
            context[1]["text"]
                .as_str()
                .is_some_and(|t| t.contains("drill"))
        );
    }

    #[test]
    fn the_footer_names_the_ticket_escaped() {
        let mut d = draft(false);
        d.footer.ticket = Some("INC-4711 <!here>".into());
        let p = payload(&d, None, None);
        assert_eq!(
            p["blocks"][3]["elements"][0]["text"],
            "`db@1.0.0` · drill · no env · commander alice · ticket `INC-4711 &lt;!here&gt;` · 1.5s elapsed of RTO 1m"
        );
    }

    #[test]
    fn fields_are_a_section_s_fields_in_order_with_labels_and_values_escaped() {
        let mut d = draft(false);
        d.fields = vec![
            ("Severity".into(), Rich::new().text("SEV0")),
            ("Who <!here>".into(), Rich::new().text("alice & <!channel>")),
        ];
        let p = payload(&d, None, None);
        let fields = p["blocks"]
            .as_array()
            .expect("blocks")
            .iter()
            .find_map(|b| b["fields"].as_array())
            .expect("a section with fields");
        assert_eq!(fields[0]["text"], "*Severity*\nSEV0");
        assert_eq!(
            fields[1]["text"],
            "*Who &lt;!here&gt;*\nalice &amp; &lt;!channel&gt;"
        );
    }

    #[test]
    fn a_calm_message_has_no_mention_and_no_channel_unless_set() {
        let p = payload(&draft(false), None, Some("<!subteam^S1>"));
        assert!(p.get("channel").is_none());
        assert!(!p.to_string().contains("subteam"));
    }

    #[test]
    fn long_tails_keep_their_newest_lines_within_slack_s_limit() {
        let lines: Vec<String> = (0..100)
            .map(|i| format!("{i:03} {}", "x".repeat(96)))
            .collect();
        let text = tail_text(&lines);
        assert!(text.chars().count() <= TAIL_LIMIT);
        assert!(text.ends_with(&lines[99]));
    }
}
