//! A host of `[hosts]` rendered for this run: the destination and options `ssh` is given, and
//! the words of a message about it (how to pin its key).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// What `ssh` is told to reach one host of the inventory.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Target {
    /// The inventory name, as `on` names it.
    pub(crate) name: String,
    /// As rendered from `ssh`: `[user@]host[:port]` or an ssh configuration alias.
    pub(crate) written: String,
    /// `[user@]host` (or the alias), without the port.
    pub(crate) destination: String,
    pub(crate) port: Option<u16>,
    pub(crate) identity: Option<PathBuf>,
    pub(crate) known_hosts: Option<PathBuf>,
}

impl Target {
    /// Reads `[user@]host[:port]` (`[::1]:22` for an IPv6 address); anything else is given to
    /// `ssh` as it is, which looks it up in its configuration. Relative `identity` and
    /// `known_hosts` paths are relative to `base` (the playbook's folder); `~/` is left to ssh.
    pub(crate) fn new(
        name: &str,
        ssh: &str,
        identity: Option<&str>,
        known_hosts: Option<&str>,
        base: &Path,
    ) -> Result<Self, String> {
        let written = ssh.trim();
        if written.is_empty() || written.starts_with('-') || written.contains(char::is_whitespace) {
            return Err(format!(
                "`ssh` of host `{name}` is {written:?}: write \"[user@]host[:port]\" or a Host alias of the ssh configuration"
            ));
        }
        let (user, rest) = match written.rsplit_once('@') {
            Some((user, rest)) => (Some(user), rest),
            None => (None, written),
        };
        let (host, port) = split_port(rest).map_err(|e| format!("`ssh` of host `{name}`: {e}"))?;
        let destination = match user {
            Some(user) => format!("{user}@{host}"),
            None => host.to_owned(),
        };
        let path = |p: &str| {
            let p = p.trim();
            if p.starts_with('~') || Path::new(p).is_absolute() {
                PathBuf::from(p)
            } else {
                base.join(p)
            }
        };
        Ok(Self {
            name: name.to_owned(),
            written: written.to_owned(),
            destination,
            port,
            identity: identity.filter(|s| !s.trim().is_empty()).map(path),
            known_hosts: known_hosts.filter(|s| !s.trim().is_empty()).map(path),
        })
    }

    /// The options of every `ssh` runbook starts for this host: no prompt ever (`BatchMode`),
    /// an unknown or changed host key refused, the key and `known_hosts` file asked for.
    pub(crate) fn options(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = [
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "ConnectTimeout=15",
            "-o",
            "ServerAliveInterval=15",
            "-o",
            "ServerAliveCountMax=3",
            "-T",
        ]
        .into_iter()
        .map(OsString::from)
        .collect();
        if let Some(port) = self.port {
            args.push("-p".into());
            args.push(port.to_string().into());
        }
        if let Some(identity) = &self.identity {
            args.push("-i".into());
            args.push(identity.into());
            args.push("-o".into());
            args.push("IdentitiesOnly=yes".into());
        }
        if let Some(file) = &self.known_hosts {
            let mut option = OsString::from("UserKnownHostsFile=");
            option.push(quoted(file));
            args.push("-o".into());
            args.push(option);
            args.push("-o".into());
            args.push("GlobalKnownHostsFile=/dev/null".into());
        }
        args
    }

    /// Which `known_hosts` file a message should name.
    pub(crate) fn known_hosts_shown(&self) -> String {
        self.known_hosts.as_ref().map_or_else(
            || "~/.ssh/known_hosts".to_owned(),
            |p| p.display().to_string(),
        )
    }

    /// The host part of `destination` (an alias stays an alias).
    pub(crate) fn host(&self) -> &str {
        self.destination
            .rsplit_once('@')
            .map_or(self.destination.as_str(), |(_, h)| h)
    }
}

/// `host:port`, `[v6]:port`, `[v6]`, `host`; a bare IPv6 address (several `:`) has no port.
fn split_port(rest: &str) -> Result<(&str, Option<u16>), String> {
    if let Some(inner) = rest.strip_prefix('[') {
        let Some((host, after)) = inner.split_once(']') else {
            return Err(format!("`{rest}` opens `[` without closing it"));
        };
        return match after.strip_prefix(':') {
            Some(port) => Ok((host, Some(parse_port(port)?))),
            None if after.is_empty() => Ok((host, None)),
            None => Err(format!("unexpected `{after}` after `[{host}]`")),
        };
    }
    match rest.split_once(':') {
        Some((host, port)) if !port.contains(':') => Ok((host, Some(parse_port(port)?))),
        _ => Ok((rest, None)),
    }
}

fn parse_port(port: &str) -> Result<u16, String> {
    port.parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("port `{port}` is not a number from 1 to 65535"))
}

/// A path as an ssh configuration value: in double quotes when it has a space.
fn quoted(path: &Path) -> OsString {
    let text = path.as_os_str();
    if text.to_string_lossy().contains(char::is_whitespace) {
        let mut out = OsString::from("\"");
        out.push(text);
        out.push("\"");
        out
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(ssh: &str) -> Result<Target, String> {
        Target::new("db", ssh, Some("keys/id"), Some("~/kh"), Path::new("/pb"))
    }

    #[test]
    fn reads_user_host_and_port() {
        let t = target("postgres@10.0.4.12:2222").expect("valid");
        assert_eq!(t.destination, "postgres@10.0.4.12");
        assert_eq!(t.port, Some(2222));
        assert_eq!(t.host(), "10.0.4.12");
        assert_eq!(t.identity.as_deref(), Some(Path::new("/pb/keys/id")));
        assert_eq!(t.known_hosts.as_deref(), Some(Path::new("~/kh")));
        let t = target("db-alias").expect("valid");
        assert_eq!((t.destination.as_str(), t.port), ("db-alias", None));
        let t = target("root@[::1]:22").expect("valid");
        assert_eq!((t.destination.as_str(), t.port), ("root@::1", Some(22)));
        let t = target("fe80::1").expect("valid");
        assert_eq!((t.destination.as_str(), t.port), ("fe80::1", None));
    }

    #[test]
    fn refuses_what_ssh_would_misread() {
        for bad in ["", "-oProxyCommand=x", "a b", "h:0", "h:99999", "[::1"] {
            assert!(target(bad).is_err(), "{bad}");
        }
    }
}
