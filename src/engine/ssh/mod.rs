//! Remote hosts over the system OpenSSH client: `on = "HOST"` sends a `run` step's command (and
//! its rollback) or a `command` probe to a host of `[hosts]`. The transport is the `ssh` program,
//! with `BatchMode` and strict host-key checking; each host gets one multiplexed master per run
//! (`master.rs`, `connections.rs`); each command is a session whose remote command is a fixed
//! bootstrap and whose stdin carries the script and its environment (`scripts.rs`,
//! `session.rs`). Masking, logs, outputs and retries stay above, in the callers, exactly as for
//! a local command; the callers pick the [`Place`] and call [`run`].

mod connections;
mod master;
mod scripts;
mod session;
mod stream;
mod target;

use std::path::Path;

use tokio_util::sync::CancellationToken;

pub(crate) use connections::Connections;

use crate::engine::context::Context;
use crate::engine::process::{self, CommandSpec, Finished, OutputSink, ProcessError, Registry};
use crate::engine::ssh::target::Target;
use crate::playbook::model::{Action, On, Playbook, Probe, Step};

/// What a command needs to run on a host of the playbook: its inventory, the run's connections
/// and the second signal (which makes a remote teardown KILL at once).
#[derive(Clone, Copy)]
pub(crate) struct Inventory<'a> {
    pub(crate) playbook: &'a Playbook,
    pub(crate) connections: &'a Connections,
    pub(crate) second: &'a CancellationToken,
}

/// Where a command runs.
pub(crate) enum Place<'a> {
    Here,
    Host {
        inventory: Inventory<'a>,
        target: Target,
        /// The remote working directory; `None`: the login directory.
        cwd: Option<String>,
    },
}

impl<'a> Place<'a> {
    /// The host `on` names, with its `[hosts]` entry rendered; a message when it names none.
    pub(crate) fn of(
        on: Option<&On>,
        inventory: Inventory<'a>,
        context: &Context,
        cwd: Option<String>,
    ) -> Result<Self, String> {
        let Some(on) = on else {
            return Ok(Self::Here);
        };
        let name = host_name(on, context)?;
        let Some(host) = inventory.playbook.hosts.get(&name) else {
            let known: Vec<String> = inventory
                .playbook
                .hosts
                .keys()
                .map(|k| format!("`{k}`"))
                .collect();
            return Err(format!(
                "`on` names host `{name}`, which is not in [hosts] (it has {})",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ));
        };
        let render = |t: &crate::playbook::template::Template, key: &str| {
            context
                .render(t)
                .map_err(|e| format!("template error in `{key}` of [hosts.{name}]: {e}"))
        };
        let ssh = render(&host.ssh, "ssh")?;
        let identity = host
            .identity
            .as_ref()
            .map(|t| render(t, "identity"))
            .transpose()?;
        let known_hosts = host
            .known_hosts
            .as_ref()
            .map(|t| render(t, "known_hosts"))
            .transpose()?;
        let base = inventory
            .playbook
            .path()
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let base = std::path::absolute(base).unwrap_or_else(|_| base.to_owned());
        let target = Target::new(
            &name,
            &ssh,
            identity.as_deref(),
            known_hosts.as_deref(),
            &base,
        )?;
        Ok(Self::Host {
            inventory,
            target,
            cwd,
        })
    }

    /// Where a step's command (and its rollback) runs: its `on`, with its `cwd` as the remote
    /// working directory.
    pub(crate) fn for_step(
        step: &Step,
        inventory: Inventory<'a>,
        context: &Context,
    ) -> Result<Self, String> {
        if step.on().is_none() {
            return Ok(Self::Here);
        }
        let cwd = step
            .cwd()
            .as_ref()
            .map(|t| {
                context
                    .render(t)
                    .map_err(|e| format!("template error in `cwd`: {e}"))
            })
            .transpose()?;
        Self::of(step.on(), inventory, context, cwd)
    }
}

/// The host a step works on, for its events: its own `on`, or that of its `check`'s command
/// probe; `None` for a local step (or an `on` that does not render: the step fails on it).
pub(crate) fn step_host(step: &Step, context: &Context) -> Option<String> {
    let on = step.on().or(match &step.action {
        Action::Check(c) => match &c.probe {
            Probe::Command(p) => p.on.as_ref(),
            _ => None,
        },
        _ => None,
    })?;
    host_name(on, context).ok()
}

/// The inventory name `on` gives, rendered when it is a template.
pub(crate) fn host_name(on: &On, context: &Context) -> Result<String, String> {
    match on {
        On::Host(name) => Ok(name.clone()),
        On::Template(t) => context
            .render(t)
            .map(|s| s.trim().to_owned())
            .map_err(|e| format!("template error in `on`: {e}")),
    }
}

/// Why a command did not run to an exit.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CommandError {
    #[error(transparent)]
    Local(#[from] ProcessError),
    #[error(transparent)]
    Connect(#[from] master::ConnectError),
    #[error(transparent)]
    Remote(#[from] session::RemoteError),
}

impl CommandError {
    /// Whether the command may have started (and so may have changed something).
    pub(crate) fn began(&self) -> bool {
        match self {
            Self::Local(e) => !matches!(e, ProcessError::Spawn { .. }),
            Self::Connect(_) | Self::Remote(session::RemoteError::Spawn { .. }) => false,
            Self::Remote(_) => true,
        }
    }
}

/// Runs `spec` where `place` says: [`process::run`] here, an ssh session on a host.
pub(crate) async fn run<S: OutputSink + ?Sized>(
    place: &Place<'_>,
    spec: &CommandSpec,
    sink: &mut S,
    cancel: &CancellationToken,
    registry: &Registry,
) -> Result<Finished, CommandError> {
    match place {
        Place::Here => Ok(process::run(spec, sink, cancel, registry).await?),
        Place::Host {
            inventory,
            target,
            cwd,
        } => {
            let link = inventory.connections.link(target, cancel).await?;
            Ok(session::run(
                &link,
                spec,
                cwd.as_deref(),
                sink,
                cancel,
                Some(inventory.second),
                registry,
            )
            .await?)
        }
    }
}
