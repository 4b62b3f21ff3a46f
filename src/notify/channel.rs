//! The channels of a run, from `[notify.slack]` and `[notify.webhook]`: where each one posts
//! (its URL and headers rendered once, at the start), what it is sent, and how it is named in
//! the journal. The URL is never shown: it is a secret, masked by the run's masker.

use crate::notify::message::{About, Draft};
use crate::notify::{slack, webhook};
use crate::playbook::model::Notify;
use crate::playbook::template::Template;

/// Renders a template of `[notify]` against the run's context (URLs, headers): the text, or
/// why it could not be rendered.
pub(crate) type Render<'a> = dyn Fn(&Template) -> Result<String, String> + 'a;

/// One place messages go.
#[derive(Debug, Clone)]
pub(crate) struct Channel {
    /// In the journal and the report: the Slack channel override, `slack`, or `webhook`.
    pub(crate) name: String,
    pub(crate) kind: Kind,
    events: Vec<String>,
    /// The rendered URL and headers, or why they could not be rendered.
    pub(crate) target: Result<Target, String>,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Slack {
        channel: Option<String>,
        mention: Option<String>,
    },
    Webhook,
}

/// Where a channel posts.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, String)>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL and header values carry credentials.
        f.debug_struct("Target").finish_non_exhaustive()
    }
}

impl Channel {
    /// The channels a playbook configures, their templates rendered by `render`.
    pub(crate) fn all(notify: &Notify, render: &Render<'_>) -> Vec<Self> {
        let mut channels = Vec::new();
        if let Some(s) = &notify.slack {
            channels.push(Self {
                name: s.channel.clone().unwrap_or_else(|| "slack".to_owned()),
                kind: Kind::Slack {
                    channel: s.channel.clone(),
                    mention: s.mention.clone(),
                },
                events: s.events.clone(),
                target: render_url(render, &s.webhook, "`webhook` of [notify.slack]").map(|url| {
                    Target {
                        url,
                        headers: Vec::new(),
                    }
                }),
            });
        }
        if let Some(w) = &notify.webhook {
            let target = render_url(render, &w.url, "`url` of [notify.webhook]").and_then(|url| {
                let headers = w
                    .headers
                    .iter()
                    .map(|(name, t)| {
                        render(t).map(|v| (name.clone(), v)).map_err(|e| {
                            format!("failed to render header `{name}` of [notify.webhook]: {e}")
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Target { url, headers })
            });
            channels.push(Self {
                name: "webhook".to_owned(),
                kind: Kind::Webhook,
                events: w.events.clone(),
                target,
            });
        }
        channels
    }

    #[cfg(test)]
    pub(crate) fn for_test(
        name: &str,
        kind: Kind,
        events: &[&str],
        target: Result<Target, String>,
    ) -> Self {
        Self {
            name: name.to_owned(),
            kind,
            events: events.iter().map(|&e| e.to_owned()).collect(),
            target,
        }
    }

    /// Whether this channel is sent messages about `about`. A `notify` step goes everywhere;
    /// a failed step goes to a channel that asked for `step_failed` or for every `step_finished`.
    pub(crate) fn wants(&self, about: About) -> bool {
        let has = |name: &str| self.events.iter().any(|e| e == name);
        match about {
            About::Notify => true,
            About::StepFailed => has("step_failed") || has("step_finished"),
            other => has(other.as_str()),
        }
    }

    /// The JSON body of a draft for this channel.
    pub(crate) fn body(&self, draft: &Draft) -> serde_json::Value {
        match &self.kind {
            Kind::Slack { channel, mention } => {
                slack::payload(draft, channel.as_deref(), mention.as_deref())
            }
            Kind::Webhook => webhook::payload(draft),
        }
    }
}

fn render_url(render: &Render<'_>, template: &Template, what: &str) -> Result<String, String> {
    match render(template) {
        Ok(url) if url.trim().is_empty() => Err(format!("{what} rendered empty")),
        Ok(url) => Ok(url),
        Err(e) => Err(format!("failed to render {what}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(events: &[&str]) -> Channel {
        Channel::for_test("slack", Kind::Webhook, events, Err("unused".into()))
    }

    #[test]
    fn events_filter_but_notify_steps_go_everywhere() {
        let c = channel(&["started", "finished"]);
        assert!(c.wants(About::Started));
        assert!(c.wants(About::Notify));
        assert!(!c.wants(About::StepFailed));
        assert!(!c.wants(About::RtoWarning));
        // A failed step is a finished step too, for a channel that wants every one.
        assert!(channel(&["step_finished"]).wants(About::StepFailed));
    }
}
