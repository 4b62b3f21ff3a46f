//! What a run masks: the playbook's `secrets` set in the environment, and the notification
//! URLs, which carry their own credentials.

use std::collections::BTreeMap;

use crate::engine::Context;
use crate::event::{Masker, RedactError, secrets_in};
use crate::playbook::Playbook;

/// The masker of a run, and every value it masks (nested playbooks mask these and their own).
pub(crate) fn masker(
    playbook: &Playbook,
    context: &Context,
    env: &BTreeMap<String, String>,
) -> Result<(Masker, Vec<String>), RedactError> {
    let named = secrets_in(&playbook.meta.secrets, env);
    let mut secrets: Vec<String> = named.iter().map(|(_, v)| (*v).to_owned()).collect();
    // Webhook URLs carry their own credentials: masked like secrets.
    for template in playbook
        .notify
        .slack
        .iter()
        .map(|s| &s.webhook)
        .chain(playbook.notify.webhook.iter().map(|w| &w.url))
    {
        if let Ok(url) = context.render(template) {
            secrets.push(url);
        }
    }
    let masker = Masker::new(&secrets)?.with_names(named);
    Ok((masker, secrets))
}
