//! The importer's heuristics, as data: which fenced languages are shell, which first words make
//! a line a command, what a prompt looks like, which words start an instruction, which commands
//! destroy or overwrite, which names hold secrets, what a health URL is, and how a page states
//! its objectives. Every table has a test below; the rest of `import` only asks these questions.

use std::sync::LazyLock;

use regex::Regex;

/// Fenced languages whose lines are shell commands.
pub(crate) const SHELL_LANGUAGES: &[&str] = &["sh", "bash", "shell", "zsh", "ksh", "dash"];

/// Fenced languages of a terminal session: lines with a prompt are commands, the others output.
pub(crate) const SESSION_LANGUAGES: &[&str] = &[
    "console",
    "shell-session",
    "shellsession",
    "sh-session",
    "bash-session",
    "terminal",
];

/// Fenced languages that are SQL, imported as a `psql` step.
pub(crate) const SQL_LANGUAGES: &[&str] =
    &["sql", "psql", "postgresql", "postgres", "pgsql", "plpgsql"];

/// What a fenced block's info string says its lines are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Language {
    Shell,
    Session,
    Sql,
    /// Any other language (YAML, TOML, JSON, …): kept as a comment.
    Other,
    /// No language: shell when its lines look like commands.
    Unknown,
}

/// The language of a fenced block from its info string (`bash`, `{.sh}`, `console title="x"`).
pub(crate) fn language(info: &str) -> Language {
    let word = info
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_start_matches('{')
        .trim_start_matches('.')
        .trim_end_matches('}')
        .to_ascii_lowercase();
    let word = word.split(',').next().unwrap_or("");
    if word.is_empty() || word == "text" || word == "plain" {
        Language::Unknown
    } else if SHELL_LANGUAGES.contains(&word) {
        Language::Shell
    } else if SESSION_LANGUAGES.contains(&word) {
        Language::Session
    } else if SQL_LANGUAGES.contains(&word) {
        Language::Sql
    } else {
        Language::Other
    }
}

/// Programs whose name at the start of a line makes it a command (for blocks without a
/// language and for pages whose code lost its fences).
pub(crate) const COMMANDS: &[&str] = &[
    "ansible-playbook",
    "apt",
    "apt-get",
    "awk",
    "aws",
    "az",
    "cat",
    "cd",
    "chmod",
    "chown",
    "cp",
    "createdb",
    "createuser",
    "crontab",
    "curl",
    "date",
    "dd",
    "df",
    "dig",
    "docker",
    "docker-compose",
    "dropdb",
    "du",
    "echo",
    "env",
    "etcdctl",
    "export",
    "find",
    "gcloud",
    "git",
    "grep",
    "gunzip",
    "gzip",
    "head",
    "helm",
    "journalctl",
    "kill",
    "kubectl",
    "ln",
    "ls",
    "make",
    "mkdir",
    "mongodump",
    "mongorestore",
    "mount",
    "mv",
    "mysql",
    "mysqldump",
    "nc",
    "nginx",
    "nslookup",
    "openssl",
    "patronictl",
    "pg_basebackup",
    "pg_ctl",
    "pg_ctlcluster",
    "pg_dump",
    "pg_dumpall",
    "pg_isready",
    "pg_restore",
    "pgbackrest",
    "ping",
    "printf",
    "ps",
    "psql",
    "redis-cli",
    "restic",
    "rm",
    "rsync",
    "scp",
    "sed",
    "service",
    "sha256sum",
    "sleep",
    "sqlite3",
    "ssh",
    "sudo",
    "systemctl",
    "tail",
    "tar",
    "terraform",
    "test",
    "touch",
    "umount",
    "unzip",
    "wal-g",
    "wget",
    "zip",
];

/// Words that start a session prompt line in `console` blocks besides `$ `.
static PROMPT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:\$ |[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+(?::[^\s$#]*)?[$#] |\$$)")
        .expect("the prompt pattern compiles")
});

/// The command after a prompt (`$ `, `user@host:~$ `; in a session block also the root
/// prompt `# `), or `None` when the line has no prompt.
pub(crate) fn strip_prompt(line: &str, session: bool) -> Option<&str> {
    let trimmed = line.trim_start();
    if let Some(m) = PROMPT.find(trimmed) {
        return Some(&trimmed[m.end()..]);
    }
    if session {
        return trimmed.strip_prefix("# ");
    }
    None
}

static ASSIGNMENT_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:export\s+)?[A-Za-z_][A-Za-z0-9_]*=").expect("the assignment pattern compiles")
});

/// Whether a line of text reads as a shell command rather than as prose.
pub(crate) fn looks_like_command(line: &str) -> bool {
    let line = line.trim();
    if line.is_empty() {
        return false;
    }
    if strip_prompt(line, false).is_some() || ASSIGNMENT_START.is_match(line) {
        return true;
    }
    let first = line.split_whitespace().next().unwrap_or("");
    let program = first.rsplit('/').next().unwrap_or(first);
    let known = COMMANDS.contains(&program)
        || (first.starts_with("./") && first.len() > 2)
        || (first.starts_with('/') && first.len() > 1 && !first.ends_with('/'));
    known && !reads_as_prose(line)
}

/// A sentence: ends like one, has a few words, and none of the signs of a shell line.
fn reads_as_prose(line: &str) -> bool {
    let words = line.split_whitespace().count();
    let sentence_end = line.ends_with(['.', ':', '?', '!']);
    let shellish =
        line.contains(" -") || line.contains(['$', '|', '>', '<', '=', '&', ';', '\'', '"']);
    words >= 3 && sentence_end && !shellish
}

/// First words of an instruction for a person: a paragraph starting with one becomes a
/// `manual` step.
pub(crate) const INSTRUCTION_VERBS: &[&str] = &[
    "announce",
    "approve",
    "ask",
    "assign",
    "call",
    "check",
    "close",
    "communicate",
    "confirm",
    "contact",
    "coordinate",
    "create",
    "decide",
    "declare",
    "determine",
    "disable",
    "document",
    "drain",
    "email",
    "enable",
    "ensure",
    "escalate",
    "fail",
    "file",
    "find",
    "freeze",
    "get",
    "hand",
    "identify",
    "inform",
    "keep",
    "let",
    "log",
    "make",
    "monitor",
    "move",
    "note",
    "notify",
    "open",
    "page",
    "post",
    "promote",
    "raise",
    "record",
    "remove",
    "restart",
    "restore",
    "review",
    "rotate",
    "run",
    "schedule",
    "send",
    "set",
    "sign",
    "start",
    "stop",
    "switch",
    "take",
    "tell",
    "unfreeze",
    "update",
    "verify",
    "wait",
    "watch",
    "write",
];

/// Whether a paragraph reads as an instruction for a person ("Notify stakeholders.").
pub(crate) fn is_instruction(text: &str) -> bool {
    let first = text
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase();
    INSTRUCTION_VERBS.contains(&first.as_str())
}

/// Commands that destroy or overwrite: a step with one of them gets a `confirm`. The name is
/// what the confirmation says.
pub(crate) const DESTRUCTIVE: &[(&str, &str)] = &[
    (
        "pg_restore --clean",
        r"\bpg_restore\b.*\s(?:--clean\b|-[A-Za-z]*c[A-Za-z]*\b)",
    ),
    (
        "DROP",
        r"(?i)\bdrop\s+(?:table|database|schema|index|view|role|user|owned|extension|function|materialized|sequence)\b",
    ),
    ("TRUNCATE", r"(?i)\btruncate\b"),
    ("DELETE FROM", r"(?i)\bdelete\s+from\b"),
    ("UPDATE … SET", r"(?i)\bupdate\s+\S+\s+set\b"),
    ("rm", r"(?:^|[\s;&|(`])rm\s"),
    ("pg_terminate_backend", r"\bpg_terminate_backend\b"),
    ("--force", r"(?:^|\s)--force\b"),
    ("dropdb", r"\bdropdb\b"),
    (
        "mv over a data folder",
        r"\bmv\b.*(?:\bdata\b|/var/lib/|(?i:pgdata))",
    ),
    ("dd of=", r"\bdd\b.*\bof="),
    ("mkfs", r"\bmkfs\b"),
    ("kubectl delete", r"\bkubectl\b.*\sdelete\b"),
    (
        "docker rm",
        r"\bdocker\s+(?:(?:volume|container|image|system)\s+)?(?:rm|rmi|prune)\b",
    ),
    ("terraform destroy", r"\bterraform\s+destroy\b"),
    ("FLUSHALL", r"(?i)\bflush(?:all|db)\b"),
    ("git reset --hard", r"\bgit\s+reset\s+--hard\b"),
    ("rsync --delete", r"\brsync\b.*\s--delete"),
    ("aws s3 rm", r"\baws\s+s3\s+(?:rm|rb)\b"),
    ("sqlite3 .restore", r"\.restore\b"),
    ("mongorestore --drop", r"\bmongorestore\b.*\s--drop\b"),
];

static DESTRUCTIVE_PATTERNS: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| {
    DESTRUCTIVE
        .iter()
        .map(|(name, pattern)| {
            (
                *name,
                Regex::new(pattern).expect("the DESTRUCTIVE patterns compile"),
            )
        })
        .collect()
});

/// The names of the destructive commands among `commands`, in the table's order.
pub(crate) fn destructive(commands: &[&str]) -> Vec<&'static str> {
    DESTRUCTIVE_PATTERNS
        .iter()
        .filter(|(_, re)| commands.iter().any(|line| re.is_match(line)))
        .map(|(name, _)| *name)
        .collect()
}

/// How a variable's name marks it as a secret.
#[derive(Debug, Clone, Copy)]
pub(crate) enum NameRule {
    Exact(&'static str),
    Suffix(&'static str),
    Contains(&'static str),
}

/// Environment names that hold secrets: they go to `[playbook] secrets`, never to `[vars]`.
pub(crate) const SECRET_NAMES: &[NameRule] = &[
    NameRule::Suffix("_KEY"),
    NameRule::Suffix("_TOKEN"),
    NameRule::Exact("TOKEN"),
    NameRule::Contains("PASSWORD"),
    NameRule::Contains("PASSWD"),
    NameRule::Suffix("_PASS"),
    NameRule::Contains("SECRET"),
    NameRule::Contains("CREDENTIAL"),
    NameRule::Contains("DATABASE_URL"),
    NameRule::Suffix("_DB_URL"),
    NameRule::Contains("PRIVATE_KEY"),
    NameRule::Suffix("_APIKEY"),
];

/// Whether an environment name looks like it holds a secret.
pub(crate) fn is_secret(name: &str) -> bool {
    let name = name.to_ascii_uppercase();
    SECRET_NAMES.iter().any(|rule| match rule {
        NameRule::Exact(s) => name == *s,
        NameRule::Suffix(s) => name.ends_with(s),
        NameRule::Contains(s) => name.contains(s),
    })
}

/// Variables every shell or runbook itself provides: reading one is not an undeclared input.
pub(crate) const AMBIENT: &[&str] = &[
    "HOME",
    "PATH",
    "USER",
    "LOGNAME",
    "PWD",
    "OLDPWD",
    "SHELL",
    "HOSTNAME",
    "TERM",
    "LANG",
    "TMPDIR",
    "IFS",
    "RANDOM",
    "UID",
    "EUID",
    "PPID",
    "SECONDS",
    "LINENO",
    "OPTARG",
    "OPTIND",
    "REPLY",
    "BASH_SOURCE",
    "BASH_VERSION",
    "PIPESTATUS",
];

/// Whether a variable is provided by the shell or by runbook (`RUNBOOK_*`).
pub(crate) fn is_ambient(name: &str) -> bool {
    AMBIENT.contains(&name) || name.starts_with("RUNBOOK_")
}

/// Last path segments that make a URL a health endpoint.
pub(crate) const HEALTH_PATHS: &[&str] = &[
    "health",
    "healthz",
    "healthcheck",
    "ready",
    "readyz",
    "readiness",
    "live",
    "livez",
    "liveness",
    "ping",
    "status",
];

/// `curl` flags that do not change what a health check means.
pub(crate) const CURL_QUIET_FLAGS: &[&str] = &[
    "-f",
    "-s",
    "-S",
    "-L",
    "-fs",
    "-sf",
    "-fsS",
    "-fSs",
    "-sSf",
    "-Ssf",
    "-sS",
    "-Ss",
    "-fL",
    "-fsSL",
    "-sSL",
    "-sL",
    "--fail",
    "--silent",
    "--show-error",
    "--location",
];

/// The URL of a plain `curl` of a health endpoint (`curl -fsS http://localhost:8080/healthz`),
/// which the import turns into an `http` check; `None` for any other command.
pub(crate) fn health_url(command: &str) -> Option<String> {
    let words = shlex::split(command)?;
    let (program, args) = words.split_first()?;
    if program != "curl" {
        return None;
    }
    let mut url = None;
    for arg in args {
        if CURL_QUIET_FLAGS.contains(&arg.as_str()) {
            continue;
        }
        if url.is_some() || arg.starts_with('-') {
            return None;
        }
        url = Some(arg);
    }
    let url = url?;
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    if url.contains(['$', '`', '{', '}', '"', '\'', '\\', ' ']) {
        return None;
    }
    let path = rest.split_once('/').map_or("", |(_, p)| p);
    let path = path.split(['?', '#']).next().unwrap_or("");
    let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    HEALTH_PATHS
        .contains(&last.to_ascii_lowercase().as_str())
        .then(|| url.clone())
}

/// Spellings of the units of a duration, with the playbook grammar's unit and its seconds.
pub(crate) const DURATION_UNITS: &[(&[&str], &str, u64)] = &[
    (&["s", "sec", "secs", "second", "seconds"], "s", 1),
    (&["m", "min", "mins", "minute", "minutes"], "m", 60),
    (&["h", "hr", "hrs", "hour", "hours"], "h", 3_600),
    (&["d", "day", "days"], "d", 86_400),
];

/// `sleep 30` → `"30s"`, `sleep 2m` → `"2m"`; `None` for anything else.
pub(crate) fn sleep_duration(command: &str) -> Option<String> {
    let mut words = command.split_whitespace();
    if words.next()? != "sleep" {
        return None;
    }
    let arg = words.next()?;
    if words.next().is_some() {
        return None;
    }
    let digits = arg.trim_end_matches(['s', 'm', 'h', 'd']);
    let unit = &arg[digits.len()..];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || unit.len() > 1 {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    (n > 0).then(|| format!("{n}{}", if unit.is_empty() { "s" } else { unit }))
}

/// Which objective a statement names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Objective {
    Rto,
    Rpo,
}

/// How pages state objectives: "RTO < 4 hours", "RTO: 30 minutes", "recovery point objective of 5 min".
static OBJECTIVE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(rto|rpo|recovery\s+time\s+objective|recovery\s+point\s+objective)\b(?:\s*\([^)]{0,20}\))?[\s:=<≤~*-]*(?:(?:is|of|under|within|below|at\s+most|less\s+than|max(?:imum)?)\b[\s:=<≤~-]*)*(\d{1,6}(?:\.\d{1,3})?)\s*([a-z]{1,7})\b",
    )
    .expect("the objective pattern compiles")
});

/// The objectives a text states, each as a playbook duration (`"4h"`, `"1h 30m"`).
pub(crate) fn objectives(text: &str) -> Vec<(Objective, String)> {
    OBJECTIVE
        .captures_iter(text)
        .filter_map(|c| {
            let which = if c[1].to_ascii_lowercase().starts_with("rpo")
                || c[1].to_ascii_lowercase().contains("point")
            {
                Objective::Rpo
            } else {
                Objective::Rto
            };
            let unit = c[3].to_ascii_lowercase();
            let (_, _, seconds) = DURATION_UNITS
                .iter()
                .find(|(spellings, _, _)| spellings.contains(&unit.as_str()))?;
            let amount: f64 = c[2].parse().ok()?;
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss,
                reason = "at most 999999.999 days, far inside u64 and f64's exact integers"
            )]
            let total = (amount * *seconds as f64).round() as u64;
            (total > 0).then(|| (which, duration_text(total)))
        })
        .collect()
}

/// Seconds in the playbook grammar, largest unit first: 5400 → `"1h 30m"`.
pub(crate) fn duration_text(mut seconds: u64) -> String {
    let mut groups = Vec::new();
    for (_, unit, size) in DURATION_UNITS.iter().rev() {
        if seconds >= *size {
            groups.push(format!("{}{unit}", seconds / size));
            seconds %= size;
        }
    }
    groups.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages() {
        assert_eq!(language("bash"), Language::Shell);
        assert_eq!(language("{.sh}"), Language::Shell);
        assert_eq!(language("Shell title=\"x\""), Language::Shell);
        assert_eq!(language("console"), Language::Session);
        assert_eq!(language("SQL"), Language::Sql);
        assert_eq!(language("yaml"), Language::Other);
        assert_eq!(language(""), Language::Unknown);
        assert_eq!(language("text"), Language::Unknown);
        for lang in SHELL_LANGUAGES {
            assert_eq!(language(lang), Language::Shell, "{lang}");
        }
        for lang in SESSION_LANGUAGES {
            assert_eq!(language(lang), Language::Session, "{lang}");
        }
        for lang in SQL_LANGUAGES {
            assert_eq!(language(lang), Language::Sql, "{lang}");
        }
    }

    #[test]
    fn commands_and_prose() {
        for program in COMMANDS {
            assert!(looks_like_command(&format!("{program} x")), "{program}");
        }
        assert!(looks_like_command("sudo systemctl restart api"));
        assert!(looks_like_command("$ anything at all"));
        assert!(looks_like_command("export PGHOST=db1"));
        assert!(looks_like_command("BACKUP=$(ls -1t | head -n 1)"));
        assert!(looks_like_command("./scripts/failover.sh --region eu"));
        assert!(looks_like_command("/usr/local/bin/drain"));
        assert!(looks_like_command("rm -rf /var/lib/app/cache."));
        assert!(!looks_like_command("Notify the stakeholders."));
        assert!(!looks_like_command("cp is the tool we use for this."));
        assert!(!looks_like_command("/"));
        assert!(!looks_like_command(""));
    }

    #[test]
    fn prompts() {
        assert_eq!(strip_prompt("$ pg_dump x", false), Some("pg_dump x"));
        assert_eq!(strip_prompt("  $ ls", false), Some("ls"));
        assert_eq!(strip_prompt("admin@db1:~$ psql", false), Some("psql"));
        assert_eq!(strip_prompt("root@db1:/var/lib# ls", false), Some("ls"));
        assert_eq!(
            strip_prompt("# systemctl stop x", true),
            Some("systemctl stop x")
        );
        assert_eq!(strip_prompt("# a comment", false), None);
        assert_eq!(strip_prompt("output line", true), None);
    }

    #[test]
    fn instructions() {
        for verb in INSTRUCTION_VERBS {
            assert!(is_instruction(&format!("{verb} the thing")), "{verb}");
        }
        assert!(is_instruction("Notify stakeholders in #incidents"));
        assert!(is_instruction("**Schedule** a maintenance window."));
        assert!(!is_instruction("The database is called orders."));
        assert!(!is_instruction(""));
    }

    #[test]
    fn every_destructive_rule_matches_its_example_and_not_a_safe_command() {
        let examples = [
            "pg_restore --clean --if-exists -d app x.dump",
            "psql -c 'DROP TABLE orders'",
            "TRUNCATE audit_log;",
            "delete from sessions where true;",
            "UPDATE accounts SET balance = 0;",
            "rm -rf /var/lib/postgresql/16/main",
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity;",
            "helm upgrade --force api chart/",
            "dropdb app",
            "mv /tmp/restore /var/lib/postgresql/data",
            "dd if=/dev/zero of=/dev/sdb bs=1M",
            "mkfs.ext4 /dev/sdb1",
            "kubectl -n prod delete pod api-0",
            "docker volume rm pgdata",
            "terraform destroy -auto-approve",
            "redis-cli FLUSHALL",
            "git reset --hard origin/main",
            "rsync -a --delete /backup/ /srv/",
            "aws s3 rm s3://bucket/key",
            "sqlite3 app.db \".restore backup.db\"",
            "mongorestore --drop dump/",
        ];
        assert_eq!(examples.len(), DESTRUCTIVE.len());
        for ((name, _), example) in DESTRUCTIVE.iter().zip(examples) {
            assert!(
                destructive(&[example]).contains(name),
                "`{name}` misses {example}"
            );
        }
        for safe in [
            "pg_dump -Fc app > app.dump",
            "pg_restore --list x.dump",
            "ls -la /var/lib/postgresql/data",
            "curl -fsS http://localhost/healthz",
            "systemctl start api",
            "echo format",
            "mv report.txt /tmp/report.txt",
            "sqlite3 app.db .backup b.db",
        ] {
            assert_eq!(destructive(&[safe]), Vec::<&str>::new(), "{safe}");
        }
    }

    #[test]
    fn secret_names() {
        for secret in [
            "AWS_SECRET_ACCESS_KEY",
            "GITHUB_TOKEN",
            "TOKEN",
            "PGPASSWORD",
            "DB_PASSWD",
            "ADMIN_PASS",
            "CLIENT_SECRET",
            "GOOGLE_CREDENTIALS",
            "DATABASE_URL",
            "REPLICA_DB_URL",
            "SSH_PRIVATE_KEY",
            "STRIPE_APIKEY",
            "api_key",
        ] {
            assert!(is_secret(secret), "{secret}");
        }
        assert_eq!(SECRET_NAMES.len(), 12);
        for plain in ["PGHOST", "BACKUP_DIR", "KEYSPACE", "PASSAGE", "DB_URL_HOST"] {
            assert!(!is_secret(plain), "{plain}");
        }
    }

    #[test]
    fn ambient_names() {
        for name in AMBIENT {
            assert!(is_ambient(name));
        }
        assert!(is_ambient("RUNBOOK_RUN_DIR"));
        assert!(!is_ambient("PGHOST"));
    }

    #[test]
    fn health_urls() {
        for path in HEALTH_PATHS {
            let cmd = format!("curl -fsS http://localhost:8080/{path}");
            assert!(health_url(&cmd).is_some(), "{cmd}");
        }
        for flag in CURL_QUIET_FLAGS {
            let cmd = format!("curl {flag} https://api.example.com/v1/health/");
            assert!(health_url(&cmd).is_some(), "{cmd}");
        }
        assert_eq!(
            health_url("curl -f http://127.0.0.1:9000/readyz?full=1").as_deref(),
            Some("http://127.0.0.1:9000/readyz?full=1")
        );
        for other in [
            "curl -fsS http://localhost:8080/api/orders",
            "curl -X POST http://localhost/health",
            "curl -fsS http://$HOST/health",
            "curl http://a/health http://b/health",
            "wget http://localhost/health",
            "curl -fsS 'http://localhost/health",
        ] {
            assert_eq!(health_url(other), None, "{other}");
        }
    }

    #[test]
    fn sleeps() {
        assert_eq!(sleep_duration("sleep 30").as_deref(), Some("30s"));
        assert_eq!(sleep_duration("sleep 2m").as_deref(), Some("2m"));
        assert_eq!(sleep_duration("sleep 0"), None);
        assert_eq!(sleep_duration("sleep 1.5"), None);
        assert_eq!(sleep_duration("sleep 5 && ls"), None);
        assert_eq!(sleep_duration("sleep 5ms"), None);
        assert_eq!(sleep_duration("sleepy 5"), None);
    }

    #[test]
    fn objectives_and_every_unit() {
        let rto = |t: &str| objectives(t);
        assert_eq!(
            rto("RTO < 4 hours"),
            vec![(Objective::Rto, "4h".to_owned())]
        );
        assert_eq!(
            rto("RTO: 30 minutes"),
            vec![(Objective::Rto, "30m".to_owned())]
        );
        assert_eq!(
            rto("**RTO**: 1.5 h, **RPO** of 5 min"),
            vec![
                (Objective::Rto, "1h 30m".to_owned()),
                (Objective::Rpo, "5m".to_owned())
            ]
        );
        assert_eq!(
            rto("Recovery point objective is under 15 minutes."),
            vec![(Objective::Rpo, "15m".to_owned())]
        );
        assert_eq!(rto("RTO: 0 minutes"), vec![]);
        assert_eq!(rto("RTO: 3 fortnights"), vec![]);
        assert_eq!(rto("the rtorrent client"), vec![]);
        for (spellings, unit, seconds) in DURATION_UNITS {
            for spelling in *spellings {
                assert_eq!(
                    rto(&format!("RTO: 2 {spelling}")),
                    vec![(Objective::Rto, duration_text(2 * seconds))],
                    "{spelling}"
                );
            }
            assert_eq!(duration_text(*seconds), format!("1{unit}"));
        }
        assert_eq!(duration_text(90_061), "1d 1h 1m 1s");
    }
}
