//! `[notify]`: the Slack and webhook channels and the events they are sent.

use crate::playbook::decode::Sp;
use crate::playbook::model::{
    DEFAULT_NOTIFY_EVENTS, NOTIFY_EVENTS, Notify, SlackSettings, WebhookSettings,
};
use crate::playbook::raw::RawNotify;
use crate::playbook::references::Scope;
use crate::playbook::validate::validator::Validator;

impl Validator<'_> {
    fn events(&mut self, raw: Option<&Sp<Vec<Sp<String>>>>, location: &str) -> Vec<String> {
        let Some(raw) = raw else {
            return DEFAULT_NOTIFY_EVENTS
                .iter()
                .map(|e| (*e).to_owned())
                .collect();
        };
        let mut out = Vec::new();
        for e in &raw.value {
            if let Some(event) = self.choice(Some(e), "events", location, &NOTIFY_EVENTS) {
                out.push(event.to_owned());
            }
        }
        out
    }

    pub(crate) fn notify(&mut self, raw: Option<&Sp<RawNotify>>) -> Notify {
        let Some(raw) = raw else {
            return Notify::default();
        };
        let slack = raw.value.slack.as_ref().and_then(|s| {
            let s = &s.value;
            let at = "in [notify.slack]";
            let webhook = self
                .required(
                    s.webhook.as_deref(),
                    &s.span,
                    "webhook",
                    at,
                    "\"{{env.SLACK_WEBHOOK_URL}}\"",
                )
                .cloned();
            let webhook = self.template(
                webhook.as_ref(),
                Scope::NoSteps("[notify.slack]"),
                "`webhook` of [notify.slack]",
            );
            let events = self.events(s.events.as_deref(), at);
            Some(SlackSettings {
                webhook: webhook?,
                channel: s.channel.as_ref().map(|c| c.value.clone()),
                events,
                mention: s.mention.as_ref().map(|m| m.value.clone()),
            })
        });
        let webhook = raw.value.webhook.as_ref().and_then(|w| {
            let w = &w.value;
            let at = "in [notify.webhook]";
            let url = self
                .required(
                    w.url.as_deref(),
                    &w.span,
                    "url",
                    at,
                    "\"{{env.WEBHOOK_URL}}\"",
                )
                .cloned();
            let url = self.template(
                url.as_ref(),
                Scope::NoSteps("[notify.webhook]"),
                "`url` of [notify.webhook]",
            );
            let events = self.events(w.events.as_deref(), at);
            let headers = self.templates(
                w.headers.as_deref(),
                Scope::NoSteps("[notify.webhook]"),
                "`headers` of [notify.webhook]",
            );
            Some(WebhookSettings {
                url: url?,
                events,
                headers,
            })
        });
        Notify { slack, webhook }
    }
}
