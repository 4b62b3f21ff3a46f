//! The report's closing sections in Markdown: failures (with their log tails) and rollbacks,
//! notifications, the comparison with the previous successful run, and the sign-off table.

use std::fmt::Write as _;

use crate::playbook::duration::format_human;
use crate::playbook::model::IncludeLogs;
use crate::text::count;

use super::escape::{cell, cell_code, code, fence, is_short, text};
use super::md::{Md, human, when};
use super::model::{Failure, Report, Status, TAIL_LINES};
use crate::record::log_tail::LogTail;

fn log_block(md: &mut Md, tail: &LogTail, logs_link: Option<&str>) {
    let full = match logs_link {
        Some(dir) => format!(" ([full log]({dir}/{}))", tail.file),
        None => format!(" (full log: {})", code(&format!("logs/{}", tail.file))),
    };
    if tail.missing {
        md.para(&format!(
            "No log: {} does not exist (the step printed nothing, or never ran a command).",
            code(&format!("logs/{}", tail.file))
        ));
        return;
    }
    let of = tail
        .segment
        .as_deref()
        .map_or_else(String::new, |s| format!(" of {}", text(s)));
    if tail.lines.is_empty() {
        md.para(&format!("No output{of}{full}."));
        return;
    }
    if tail.earlier_omitted {
        md.para(&format!(
            "Last {}{of}{full}:",
            count(tail.lines.len(), "line")
        ));
    } else {
        md.para(&format!(
            "Output{of}, {}{full}:",
            count(tail.lines.len(), "line")
        ));
    }
    md.block(&fence(&tail.lines, "text"));
}

fn failure(md: &mut Md, r: &Report, f: &Failure) {
    let what = match f.status {
        Status::Unfinished => "unfinished (the runner died under it)",
        s => s.as_str(),
    };
    md.heading(3, &format!("{}: {what}", code(&f.step)));
    let mut items = vec![
        format!(
            "**Exit code:** {}",
            f.exit_code
                .map_or_else(|| "none".to_owned(), |c| c.to_string())
        ),
        format!(
            "**Reason:** {}",
            f.reason.as_deref().map_or_else(|| "—".to_owned(), text)
        ),
        format!("**Attempts:** {}", f.attempts),
    ];
    if let Some(empty) = f.group_empty {
        let group = f
            .pgid
            .map_or_else(String::new, |pgid| format!(" (pgid {pgid})"));
        items.push(if empty {
            format!("**Process group{group} after the kill:** empty")
        } else {
            format!(
                "**Process group{group} after the kill:** **not empty**: processes outlived the kill"
            )
        });
    } else if let (Some(pgid), Status::Unfinished) = (f.pgid, f.status) {
        items.push(format!(
            "**Process group:** pgid {pgid}, never checked: its processes may still be running"
        ));
    }
    md.blank();
    for item in items {
        md.line(&format!("- {item}"));
    }
    match &f.log {
        Some(tail) => log_block(md, tail, r.logs_link.as_deref()),
        None if r.include_logs == IncludeLogs::None => {
            md.para("Log lines left out (`[report] include_logs = \"none\"`).");
        }
        None => {}
    }
}

pub(super) fn failures(md: &mut Md, r: &Report) {
    md.heading(2, "Failures and rollbacks");
    if r.failures.is_empty() {
        md.para("No step failed.");
    }
    for f in &r.failures {
        failure(md, r, f);
    }
    md.heading(3, "Rollbacks");
    if r.rollbacks.is_empty() {
        md.para("No rollback ran.");
    } else {
        let mut long = Vec::new();
        let rows: Vec<Vec<String>> = r
            .rollbacks
            .iter()
            .map(|rb| {
                let command = if is_short(&rb.command) {
                    cell_code(&rb.command)
                } else {
                    long.push(rb);
                    "below".to_owned()
                };
                let result = match rb.result {
                    "ok" => "ok".to_owned(),
                    "not_started" => "**not started**".to_owned(),
                    other => format!("**{other}**"),
                };
                vec![
                    cell_code(&rb.step),
                    command,
                    result,
                    rb.exit_code
                        .map_or_else(|| "—".to_owned(), |c| c.to_string()),
                    human(rb.duration_ms),
                    rb.reason.as_deref().map_or_else(String::new, cell),
                ]
            })
            .collect();
        md.table(
            &[
                "Step",
                "Command",
                "Result",
                "Exit code",
                "Duration",
                "Reason",
            ],
            &rows,
        );
        for rb in long {
            md.para(&format!("Rollback of {}:", code(&rb.step)));
            let lines: Vec<String> = rb.command.lines().map(str::to_owned).collect();
            md.block(&fence(&lines, "sh"));
        }
        // What a rollback that did not succeed printed: the evidence of what state it left.
        for rb in &r.rollbacks {
            if let Some(tail) = &rb.log {
                md.heading(4, &format!("Rollback of {}: {}", code(&rb.step), rb.result));
                log_block(md, tail, r.logs_link.as_deref());
            }
        }
        if r.include_logs == IncludeLogs::None && r.rollbacks.iter().any(|rb| rb.result != "ok") {
            md.para("Rollback log lines left out (`[report] include_logs = \"none\"`).");
        }
    }
    if r.include_logs == IncludeLogs::All {
        md.heading(3, &format!("Last lines of every step (up to {TAIL_LINES})"));
        if r.all_logs.is_empty() {
            md.para("No step wrote a log.");
        }
        for tail in &r.all_logs {
            md.heading(4, &code(&tail.step));
            log_block(md, tail, r.logs_link.as_deref());
        }
    }
}

pub(super) fn notifications(md: &mut Md, r: &Report) {
    md.heading(2, "Notifications");
    if r.notifications.is_empty() {
        md.para(if r.header.dry_run {
            "None: a dry run sends no notification."
        } else {
            "None was sent."
        });
        return;
    }
    let rows: Vec<Vec<String>> = r
        .notifications
        .iter()
        .map(|n| {
            vec![
                when(n.at),
                cell_code(&n.channel),
                cell_code(&n.about),
                match (n.sent, n.reason.as_deref()) {
                    (true, _) => "sent",
                    (false, Some(r)) if r.starts_with("skipped: ") => "not sent",
                    (false, _) => "**failed**",
                }
                .to_owned(),
                n.http_status
                    .map_or_else(|| "—".to_owned(), |s| s.to_string()),
                n.reason.as_deref().map_or_else(String::new, cell),
            ]
        })
        .collect();
    md.table(
        &[
            "Time",
            "Channel",
            "About",
            "Result",
            "HTTP status",
            "Reason",
        ],
        &rows,
    );
}

pub(super) fn comparison(md: &mut Md, r: &Report) {
    md.heading(2, "Compared with the previous successful run");
    let Some(c) = &r.comparison else {
        md.para("No previous successful run of this playbook.");
        return;
    };
    let mut about = format!("Run {}", code(&c.run_id));
    if let Some(ts) = c.started_at {
        let _ = write!(about, ", started {}", when(ts));
    }
    if let Some(v) = &c.version
        && *v != r.header.version
    {
        let _ = write!(about, ", playbook version {}", text(v));
    }
    md.para(&format!("{about}."));
    let now = match c.rto_now_ms {
        Some(ms) => format_human(ms),
        None if r.header.dry_run => "— (dry run)".to_owned(),
        None => "not measured".to_owned(),
    };
    md.table(
        &["", "Then", "Now"],
        &[vec!["RTO achieved".to_owned(), human(c.rto_then_ms), now]],
    );
    if c.slower.is_empty() {
        md.para("No step got more than 20% slower.");
        return;
    }
    md.para("Steps more than 20% slower than then:");
    let rows: Vec<Vec<String>> = c
        .slower
        .iter()
        .map(|s| {
            vec![
                cell_code(&s.step),
                format_human(s.then_ms),
                format_human(s.now_ms),
                format!("+{}%", s.percent),
            ]
        })
        .collect();
    md.table(&["Step", "Then", "Now", "Slower by"], &rows);
}

pub(super) fn signoff(md: &mut Md, r: &Report) {
    md.heading(2, "Sign-off");
    match &r.signoff {
        None => {
            md.para(
                "Sign-off roles unknown: the run folder's `playbook.toml` no longer validates.",
            );
        }
        Some(roles) if roles.is_empty() => {
            md.para("No sign-off roles (`[report] signoff` is empty).");
        }
        Some(roles) => {
            let rows: Vec<Vec<String>> = roles
                .iter()
                .map(|role| vec![cell(role), String::new(), String::new(), String::new()])
                .collect();
            md.table(&["Role", "Name", "Date", "Signature"], &rows);
        }
    }
}
