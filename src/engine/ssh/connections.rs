//! The run's connections: at most one master per host, made when a command first needs the
//! host and ended when the run ends ([`Connections::close`]); their control sockets live in a
//! short private folder of the temp dir, well under the 104-byte limit of a socket path.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use crate::engine::ssh::master::{ConnectError, Master};
use crate::engine::ssh::target::Target;

/// A socket path must fit `sun_path` (104 bytes on the BSDs and macOS, 108 on Linux), and
/// ssh adds a 17-byte suffix while it sets the socket up.
const SOCKET_PATH_MAX: usize = 104 - 17 - 1;

/// A host's connection, for one command: the host and its control socket.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    pub(crate) target: Target,
    pub(crate) socket: PathBuf,
}

/// Every master of the run, by host.
#[derive(Default)]
pub(crate) struct Connections {
    /// The folder of the control sockets, made on first use.
    dir: Mutex<Option<PathBuf>>,
    hosts: Mutex<HashMap<Target, Arc<tokio::sync::Mutex<Slot>>>>,
}

struct Slot {
    /// Names the socket file.
    index: usize,
    master: Option<Master>,
}

impl Connections {
    /// The connection to `target`: the running master, or a new one (the first use, or after
    /// the last one dropped). Steps on one host wait for each other only while it connects.
    pub(crate) async fn link(
        &self,
        target: &Target,
        cancel: &CancellationToken,
    ) -> Result<Link, ConnectError> {
        let slot = {
            let mut hosts = self.hosts.lock().expect("never poisoned");
            let index = hosts.len();
            Arc::clone(hosts.entry(target.clone()).or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(Slot {
                    index,
                    master: None,
                }))
            }))
        };
        let mut slot = slot.lock().await;
        if let Some(master) = slot.master.as_mut()
            && master.alive()
        {
            return Ok(Link {
                target: target.clone(),
                socket: master.socket().to_owned(),
            });
        }
        if let Some(dead) = slot.master.take() {
            tracing::warn!(host = %target.name, "the connection dropped; connecting again");
            dead.exit().await;
        }
        let socket = self
            .dir()
            .map_err(|reason| ConnectError::Failed {
                name: target.name.clone(),
                written: target.written.clone(),
                reason,
            })?
            .join(slot.index.to_string());
        let _ = std::fs::remove_file(&socket);
        let master = Master::start(target, socket, cancel).await?;
        tracing::info!(host = %target.name, "connected");
        let link = Link {
            target: target.clone(),
            socket: master.socket().to_owned(),
        };
        slot.master = Some(master);
        Ok(link)
    }

    /// Ends every connection (`ssh -O exit`) and removes the sockets' folder.
    pub(crate) async fn close(&self) {
        let slots: Vec<_> = self
            .hosts
            .lock()
            .expect("never poisoned")
            .drain()
            .map(|(_, slot)| slot)
            .collect();
        for slot in slots {
            if let Some(master) = slot.lock().await.master.take() {
                master.exit().await;
            }
        }
        if let Some(dir) = self.dir.lock().expect("never poisoned").take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    fn dir(&self) -> Result<PathBuf, String> {
        let mut dir = self.dir.lock().expect("never poisoned");
        if let Some(dir) = dir.as_ref() {
            return Ok(dir.clone());
        }
        let made = make_dir()?;
        *dir = Some(made.clone());
        Ok(made)
    }
}

impl Drop for Connections {
    /// A run that ends without [`Connections::close`] (a panic) still loses its masters: each
    /// is killed as its child handle drops; the folder goes here.
    fn drop(&mut self) {
        if let Some(dir) = self.dir.lock().map(|mut d| d.take()).ok().flatten() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A new folder only this user can enter, in `$TMPDIR` when its path leaves room for the
/// sockets, else in `/tmp`.
fn make_dir() -> Result<PathBuf, String> {
    let tmp = std::env::temp_dir();
    let base = if tmp.as_os_str().len() + 24 <= SOCKET_PATH_MAX {
        tmp
    } else {
        PathBuf::from("/tmp")
    };
    let template = base.join("runbook-ssh-XXXXXX");
    nix::unistd::mkdtemp(&template).map_err(|e| {
        format!(
            "failed to make a folder for the ssh control sockets in `{}`: {e}",
            base.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn fits(socket: &Path) -> bool {
        socket.as_os_str().len() <= SOCKET_PATH_MAX
    }

    #[test]
    fn the_socket_folder_is_private_and_short() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = make_dir().expect("a temp folder");
        let mode = std::fs::metadata(&dir).expect("made").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        assert!(fits(&dir.join("999")), "{}", dir.display());
        std::fs::remove_dir_all(dir).expect("removed");
    }
}
