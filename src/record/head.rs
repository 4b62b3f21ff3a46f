//! The head of a journal: the run id and playbook its first event, `run_started`, names, read
//! without the rest of the file. A scan of a runs root learns from it which run a folder holds
//! whatever the folder is called, and passes over other playbooks' runs unparsed.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// How much of a journal is read for its first line: a `run_started` with a large `vars` is a
/// few kilobytes; anything longer is not read as a head (the whole journal is read instead).
const LIMIT: u64 = 1 << 20;

/// Which run a journal records, from its first line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Head {
    pub(crate) run_id: String,
    pub(crate) playbook: String,
}

#[derive(Deserialize)]
struct FirstLine {
    run_id: String,
    event: String,
    #[serde(default)]
    playbook: Option<String>,
}

impl Head {
    /// The head of the journal at `path`; `None` when its first line is not a whole
    /// `run_started` (an empty or cut-off journal, damage, another file): then only reading
    /// the whole journal can say what it holds.
    pub(crate) fn read(path: &Path) -> Option<Self> {
        let file = std::fs::File::open(path).ok()?;
        let mut line = Vec::new();
        BufReader::new(file.take(LIMIT))
            .read_until(b'\n', &mut line)
            .ok()?;
        // Without its newline the line may have been cut off as it was written.
        if line.pop() != Some(b'\n') {
            return None;
        }
        let first: FirstLine = serde_json::from_slice(&line).ok()?;
        Some(Self {
            run_id: first.run_id,
            playbook: first.playbook.filter(|_| first.event == "run_started")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_whole_run_started_line_is_a_head() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("journal.jsonl");
        let start = r#"{"ts":"2026-11-23T02:00:00.000Z","run_id":"r-1","event":"run_started","playbook":"p","vars":{}}"#;
        std::fs::write(&path, format!("{start}\n{{\"more\n")).expect("write");
        assert_eq!(
            Head::read(&path),
            Some(Head {
                run_id: "r-1".into(),
                playbook: "p".into()
            })
        );
        for text in [
            String::new(),
            start.to_owned(),
            start[..40].to_owned(),
            "{\"ts\":\"x\",\"run_id\":\"r-1\",\"event\":\"step_started\",\"playbook\":\"p\"}\n"
                .to_owned(),
            "not json\n".to_owned(),
        ] {
            std::fs::write(&path, &text).expect("write");
            assert_eq!(Head::read(&path), None, "{text:?}");
        }
        assert_eq!(Head::read(&dir.path().join("missing")), None);
    }
}
