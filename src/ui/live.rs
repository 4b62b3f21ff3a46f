//! The live view on a terminal: a header with the playbook, the mode and the RTO clock; one
//! spinner row per running step, check or rollback with its elapsed time against its budget and
//! its last output line; permanent lines above the rows as things finish. It steps aside while
//! the engine prompts for an approval.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget};

use crate::event::{Event, Record};

use super::paint::Paint;
use super::phrase::{Known, check_label, describe, mode_label, sanitize};
use super::rto::RtoClock;
use super::sink::{Objectives, Sink, TICK, last_lines, stderr_colors};

/// What a row is for; a step may have a row for itself and one for its rollback.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Row {
    Step(String),
    Check {
        check: String,
        step: Option<String>,
    },
    Rollback(String),
    /// A request waiting for `runbook approve`.
    Approval(String),
}

impl Row {
    fn check(check: &str, step: Option<&str>) -> Self {
        Self::Check {
            check: check.to_owned(),
            step: step.map(str::to_owned),
        }
    }
}

/// Makes the draw target again after an approval (a target cannot be cloned).
type Target = Box<dyn Fn() -> ProgressDrawTarget + Send>;

/// The live view: indicatif bars on stderr.
pub(crate) struct Live {
    multi: MultiProgress,
    target: Target,
    /// `None` in tests: no background threads, rows redraw when they change.
    tick: Option<Duration>,
    paint: Paint,
    verbose: bool,
    objectives: Objectives,
    /// Added when the run starts (not while waiting for a lock, say).
    header: Option<ProgressBar>,
    /// `postgres-restore@2.1.0 [DRILL] staging`.
    title: String,
    rto: RtoClock,
    /// Each row's bar and the width of its label.
    rows: BTreeMap<Row, (ProgressBar, usize)>,
    /// The widest label of the rows on screen, or of the plan's step ids if wider: shared by
    /// every row's style so the clocks line up.
    label_width: Arc<AtomicUsize>,
    /// The longest step id the plan knows (from the budgets), so the layout rarely shifts.
    plan_width: usize,
    /// Steps whose approval is being asked: while any is, nothing is drawn.
    awaiting: BTreeSet<String>,
    /// Permanent lines that came while drawing was suspended, printed on resume.
    held: Vec<String>,
    summary: Option<String>,
}

impl Live {
    pub(crate) fn stderr(verbose: bool, objectives: Objectives) -> Self {
        let paint = Paint {
            color: stderr_colors(),
        };
        Self::new(
            Box::new(ProgressDrawTarget::stderr),
            Some(TICK),
            paint,
            verbose,
            objectives,
        )
    }

    pub(crate) fn new(
        target: Target,
        tick: Option<Duration>,
        paint: Paint,
        verbose: bool,
        objectives: Objectives,
    ) -> Self {
        let multi = MultiProgress::with_draw_target(target());
        let rto = RtoClock::new(&objectives);
        let plan_width = objectives
            .budgets
            .keys()
            .map(|k| k.chars().count())
            .max()
            .unwrap_or(0);
        Self {
            multi,
            target,
            tick,
            paint,
            verbose,
            objectives,
            header: None,
            title: String::new(),
            rto,
            rows: BTreeMap::new(),
            label_width: Arc::new(AtomicUsize::new(plan_width)),
            plan_width,
            awaiting: BTreeSet::new(),
            held: Vec::new(),
            summary: None,
        }
    }

    /// A permanent line above the rows, or held while an approval is being asked.
    fn print(&mut self, line: String) {
        if self.awaiting.is_empty() {
            let _ = self.multi.println(line);
        } else {
            self.held.push(line);
        }
    }

    fn print_event(&mut self, event: &Event) {
        if let Some(line) = describe(event, self.known()) {
            self.print(self.paint.line(line.tone, &line.text));
            for detail in line.detail {
                self.print(format!("  {}", self.paint.dim(&detail)));
            }
        }
    }

    fn known(&self) -> Known {
        Known {
            rto_ms: self.objectives.rto_ms,
            dry_run: self.rto.dry_run,
        }
    }

    fn redraw_header(&self) {
        if let Some(header) = &self.header {
            header.set_style(self.paint.header(&self.title, self.rto));
            header.tick();
        }
    }

    fn add_row(&mut self, row: Row, label: String, budget: Option<u64>) {
        let width = label.chars().count();
        self.label_width.fetch_max(width, Ordering::Relaxed);
        let style = self
            .paint
            .row(label, Arc::clone(&self.label_width), budget, false);
        let bar = self.multi.add(ProgressBar::hidden().with_style(style));
        match self.tick {
            Some(tick) => bar.enable_steady_tick(tick),
            None => bar.tick(),
        }
        if let Some((old, _)) = self.rows.insert(row, (bar, width)) {
            self.drop_bar(&old);
        }
    }

    fn remove_row(&mut self, row: &Row) {
        if let Some((bar, _)) = self.rows.remove(row) {
            self.drop_bar(&bar);
            let widest = self.rows.values().map(|(_, w)| *w).max().unwrap_or(0);
            self.label_width
                .store(widest.max(self.plan_width), Ordering::Relaxed);
        }
    }

    fn drop_bar(&self, bar: &ProgressBar) {
        bar.finish_and_clear();
        self.multi.remove(bar);
    }

    fn set_message(&self, row: &Row, text: &str) {
        if let Some((bar, _)) = self.rows.get(row) {
            let room = usize::from(console::Term::stderr().size().1)
                .saturating_sub(self.label_width.load(Ordering::Relaxed) + 24)
                .max(10);
            bar.set_message(console::truncate_str(text, room, "…").into_owned());
        }
    }

    /// Steps aside for a prompt on the terminal: the rows are erased and nothing is drawn
    /// until every pending approval is answered.
    fn suspend(&mut self, step: &str) {
        if self.awaiting.is_empty() {
            let _ = self.multi.clear();
            self.multi.set_draw_target(ProgressDrawTarget::hidden());
        }
        self.awaiting.insert(step.to_owned());
    }

    fn resume(&mut self, step: Option<&str>) {
        if self.awaiting.is_empty() {
            return;
        }
        match step {
            Some(step) => {
                self.awaiting.remove(step);
            }
            None => self.awaiting.clear(),
        }
        if self.awaiting.is_empty() {
            self.multi.set_draw_target((self.target)());
            for line in std::mem::take(&mut self.held) {
                let _ = self.multi.println(line);
            }
            if let Some(header) = &self.header {
                header.tick();
            }
        }
    }

    /// Titles the view and puts the header on top, ticking.
    fn run_started(&mut self, record: &Record) {
        let Event::RunStarted {
            playbook,
            version,
            mode,
            dry_run,
            env,
            ..
        } = &record.event
        else {
            return;
        };
        let name = self.paint.bold(&format!("{playbook}@{version}"));
        self.title = format!("{name} {}", self.paint.mode(&mode_label(*mode, *dry_run)));
        if let Some(env) = env {
            self.title.push(' ');
            self.title.push_str(env);
        }
        if self.header.is_none() {
            let style = self.paint.header(&self.title, self.rto);
            let header = self
                .multi
                .insert(0, ProgressBar::hidden().with_style(style));
            if let Some(tick) = self.tick {
                header.enable_steady_tick(tick);
            }
            self.header = Some(header);
        }
    }

    /// Whether the event leaves a permanent line; starts are rows, not lines.
    fn shows(&self, event: &Event) -> bool {
        match event {
            Event::StepAttemptFinished { .. } | Event::NotificationSent { .. } => self.verbose,
            Event::StepStarted { .. }
            | Event::StepOutput { .. }
            | Event::CheckStarted { .. }
            | Event::CheckAttempt { .. }
            | Event::ApprovalRequested { .. }
            | Event::RollbackStarted { .. }
            | Event::RunFinished { .. } => false,
            _ => true,
        }
    }

    /// Starts, updates and ends the rows; steps aside for approvals.
    fn update_rows(&mut self, event: &Event, host: Option<&str>) {
        match event {
            Event::StepStarted { step, .. } => {
                let budget = self.objectives.budgets.get(step).copied();
                let label = host.map_or_else(|| step.clone(), |h| format!("{step} on {h}"));
                self.add_row(Row::Step(step.clone()), label, budget);
            }
            Event::StepOutput { step, line } => {
                let line = sanitize(line);
                self.set_message(&Row::Step(step.clone()), &line);
                if self.verbose {
                    self.print(self.paint.output(step, &line));
                }
            }
            Event::StepAttemptFinished {
                step,
                attempt,
                reason: Some(reason),
                ..
            } => {
                let text = format!("attempt {attempt} failed: {reason}");
                self.set_message(&Row::Step(step.clone()), &text);
            }
            Event::StepFinished { step, .. } => {
                self.remove_row(&Row::Step(step.clone()));
                // An approval never answered (the step failed instead) must not keep the view hidden.
                self.resume(Some(step));
            }
            Event::CheckStarted {
                check, step, phase, ..
            } => {
                let label = check_label(check, step.as_deref(), *phase);
                self.add_row(Row::check(check, step.as_deref()), label, None);
            }
            Event::CheckAttempt {
                check,
                step,
                attempt,
                passed: false,
                detail,
                ..
            } => {
                let text = format!("attempt {attempt}: {detail}");
                self.set_message(&Row::check(check, step.as_deref()), &text);
            }
            Event::CheckFinished { check, step, .. } => {
                self.remove_row(&Row::check(check, step.as_deref()));
            }
            Event::BudgetExceeded {
                step, budget_ms, ..
            } => {
                if let Some((bar, _)) = self.rows.get(&Row::Step(step.clone())) {
                    let width = Arc::clone(&self.label_width);
                    bar.set_style(self.paint.row(step.clone(), width, Some(*budget_ms), true));
                    bar.tick();
                }
            }
            Event::ApprovalRequested { step, .. } => {
                if let Some((bar, _)) = self.rows.get(&Row::Step(step.clone())) {
                    bar.set_message("waiting for approval");
                }
                self.suspend(step);
            }
            // Nobody answers at this terminal: the view comes back, with a row that shows
            // how long the request has waited.
            Event::ApprovalWaiting {
                step,
                approve,
                prompt: false,
                ..
            } => {
                self.resume(Some(step));
                self.add_row(
                    Row::Approval(step.clone()),
                    format!("{step} approval"),
                    None,
                );
                self.set_message(&Row::Approval(step.clone()), &format!("waiting: {approve}"));
            }
            Event::ApprovalGiven { step, .. } | Event::ApprovalDeclined { step, .. } => {
                self.resume(Some(step));
                self.remove_row(&Row::Approval(step.clone()));
                self.set_message(&Row::Step(step.clone()), "");
            }
            Event::RollbackStarted { step, .. } => {
                self.add_row(
                    Row::Rollback(step.clone()),
                    format!("{step} rollback"),
                    None,
                );
            }
            Event::RollbackFinished { step, .. } => self.remove_row(&Row::Rollback(step.clone())),
            Event::RunInterrupted { .. } | Event::RunFinished { .. } => self.resume(None),
            _ => {}
        }
    }

    /// Clears every row and the header; idempotent.
    fn close(&mut self) {
        self.resume(None);
        for (bar, _) in std::mem::take(&mut self.rows).into_values() {
            self.drop_bar(&bar);
        }
        if let Some(header) = self.header.take() {
            self.drop_bar(&header);
        }
        let _ = self.multi.clear();
    }
}

impl Sink for Live {
    fn event(&mut self, record: &Record) {
        let event = &record.event;
        if let Event::RunStarted { .. } = event {
            self.run_started(record);
        }
        self.update_rows(event, record.host.as_deref());
        if let Event::RunFinished { .. } = event {
            self.summary = describe(event, self.known()).map(|l| self.paint.line(l.tone, &l.text));
        } else if self.shows(event) {
            self.print_event(event);
        }
        if self.rto.observe(record, &self.objectives) {
            self.redraw_header();
        }
    }

    fn tail(&mut self, step: &str, lines: &[String]) {
        for line in last_lines(lines) {
            self.print(self.paint.output(step, &sanitize(line)));
        }
    }

    fn finish(&mut self) {
        self.close();
        if let Some(summary) = self.summary.take() {
            let _ = self.multi.println(summary);
        }
    }
}

impl Drop for Live {
    /// Leaves a clean terminal even when `finish` was never called (an early error).
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use indicatif::InMemoryTerm;

    use super::*;
    use crate::event::{ApprovalHow, StepStatus};
    use crate::ui::script::{full_run, objectives, record};

    const PLAIN: Paint = Paint { color: false };

    fn on(term: &InMemoryTerm, verbose: bool) -> Live {
        let term = term.clone();
        let target = move || ProgressDrawTarget::term_like(Box::new(term.clone()));
        Live::new(Box::new(target), None, PLAIN, verbose, objectives())
    }

    fn started(step: &str) -> Record {
        record(
            1000,
            Event::StepStarted {
                step: step.into(),
                title: String::new(),
                action: "run".into(),
                command: "true".into(),
                always: false,
            },
        )
    }

    fn ok(step: &str) -> Record {
        record(
            2000,
            Event::StepFinished {
                step: step.into(),
                status: StepStatus::Ok,
                reason: None,
                outputs: BTreeMap::new(),
                exit_code: Some(0),
                attempts: 1,
                duration_ms: 1000,
                would_run: None,
            },
        )
    }

    #[test]
    fn a_full_run_on_a_hidden_target_cleans_up() {
        for tick in [None, Some(Duration::from_millis(5))] {
            let mut live = Live::new(
                Box::new(ProgressDrawTarget::hidden),
                tick,
                PLAIN,
                true,
                objectives(),
            );
            for step in full_run() {
                step.play(&mut live);
            }
            assert!(
                live.rows.is_empty(),
                "every row ended: {:?}",
                live.rows.keys()
            );
            assert!(live.summary.is_some());
            live.finish();
            assert!(live.awaiting.is_empty() && live.held.is_empty() && live.summary.is_none());
            live.finish();
        }
    }

    #[test]
    fn a_full_run_leaves_its_story_and_the_summary() {
        let term = InMemoryTerm::new(40, 100);
        let mut live = on(&term, false);
        for step in full_run() {
            step.play(&mut live);
        }
        live.finish();
        let screen = term.contents();
        for line in [
            "· postgres-restore@2.1.0 started: DRILL in staging by alice, RTO objective 5m; run folder runs/r1",
            "✓ restore approved by --yes (flag)",
            "! warning: restore is over its budget 3m (3m 1s)",
            "✓ restore ok 4m 29s (2 attempts)",
            "✗ verify failed 3.1s: exit code 3",
            "  verify | count mismatch: 0 != 1200",
            "- cleanup skipped: needs failed step `verify`",
            "✓ check api-up passed after 3 attempts (4.1s)",
            "· notify: restore failed in verify; rolling back",
            "          see the run folder",
            "✓ restore rollback ok 2.1s",
            "✗ run failed in 4m 36s; RTO not achieved (5m objective)",
        ] {
            assert!(
                screen.lines().any(|l| l == line),
                "missing {line:?} in\n{screen}"
            );
        }
        assert!(
            !screen.contains("[DRILL]") && !screen.contains("restoring table"),
            "rows cleared:\n{screen}"
        );
        assert!(
            screen
                .trim_end()
                .ends_with("RTO not achieved (5m objective)"),
            "summary last:\n{screen}"
        );
    }

    #[test]
    fn rows_show_the_clock_against_the_budget_and_the_last_line() {
        let term = InMemoryTerm::new(20, 100);
        let mut live = on(&term, false);
        live.event(&full_run_started());
        live.event(&started("restore"));
        live.event(&record(
            1500,
            Event::StepOutput {
                step: "restore".into(),
                line: "restoring table users".into(),
            },
        ));
        let screen = term.contents();
        assert!(
            screen.contains("postgres-restore@2.1.0 [DRILL] staging  RTO "),
            "{screen}"
        );
        assert!(screen.contains(" / 5m"), "{screen}");
        let row = screen
            .lines()
            .find(|l| l.contains("restore "))
            .expect("a row for restore");
        assert!(row.contains(" / 3m  restoring table users"), "{row}");
        live.event(&record(
            3000,
            Event::BudgetExceeded {
                step: "restore".into(),
                budget_ms: 180_000,
                elapsed_ms: 181_000,
            },
        ));
        let screen = term.contents();
        assert!(
            screen.contains("! warning: restore is over its budget 3m (3m 1s)"),
            "{screen}"
        );
        assert!(
            screen
                .lines()
                .any(|l| l.contains("/ 3m (over)  restoring table users")),
            "{screen}"
        );
    }

    #[test]
    fn it_steps_aside_while_an_approval_is_asked() {
        let term = InMemoryTerm::new(20, 100);
        let mut live = on(&term, false);
        live.event(&full_run_started());
        live.event(&started("backup"));
        assert!(
            term.contents().lines().any(|l| l.ends_with(" backup   0s")),
            "{}",
            term.contents()
        );
        live.event(&record(
            1100,
            Event::ApprovalRequested {
                step: "restore".into(),
                question: "go?".into(),
            },
        ));
        let asked = term.contents();
        assert!(
            !asked.contains("backup") && !asked.contains("[DRILL]"),
            "rows erased for the prompt:\n{asked}"
        );
        // What happens while the person answers waits: nothing is drawn over the prompt.
        live.event(&ok("backup"));
        live.event(&record(
            1200,
            Event::StepOutput {
                step: "restore".into(),
                line: "x".into(),
            },
        ));
        assert_eq!(term.contents(), asked);
        live.event(&record(
            1300,
            Event::ApprovalGiven {
                step: "restore".into(),
                by: "alice".into(),
                how: ApprovalHow::Prompt,
                waited_ms: 1000,
                os_user: None,
                approvers: Vec::new(),
            },
        ));
        let screen = term.contents();
        let held = screen.find("✓ backup ok 1s").expect("held line printed");
        let given = screen
            .find("✓ restore approved by alice")
            .expect("answer printed");
        assert!(held < given, "in order:\n{screen}");
        assert!(
            screen.contains("[DRILL] staging  RTO"),
            "header back:\n{screen}"
        );
    }

    #[test]
    fn a_request_answered_elsewhere_keeps_the_view_with_a_row_that_waits() {
        let term = InMemoryTerm::new(20, 200);
        let mut live = on(&term, false);
        live.event(&full_run_started());
        live.event(&record(
            1100,
            Event::ApprovalRequested {
                step: "restore".into(),
                question: "go?".into(),
            },
        ));
        live.event(&record(
            1101,
            Event::ApprovalWaiting {
                step: "restore".into(),
                approve: "runbook approve r1 restore".into(),
                decline: "runbook decline r1 restore --reason TEXT".into(),
                approvers: 2,
                not_commander: true,
                timeout_ms: None,
                prompt: false,
            },
        ));
        let screen = term.contents();
        assert!(screen.contains("[DRILL]"), "header back:\n{screen}");
        assert!(
            screen.contains("restore waits for `runbook approve r1 restore`")
                && screen.contains("2 different OS users; not the commander's OS user"),
            "the command printed:\n{screen}"
        );
        assert!(
            screen
                .lines()
                .any(|l| l.contains("restore approval") && l.contains("waiting: runbook approve")),
            "a row that waits:\n{screen}"
        );
        live.event(&record(
            5000,
            Event::ApprovalGiven {
                step: "restore".into(),
                by: "ann, bob".into(),
                how: ApprovalHow::Remote,
                waited_ms: 3900,
                os_user: None,
                approvers: vec![
                    crate::event::Approver {
                        by: "ann".into(),
                        os_user: "ann".into(),
                        waited_ms: 1000,
                    },
                    crate::event::Approver {
                        by: "bob".into(),
                        os_user: "bob".into(),
                        waited_ms: 3900,
                    },
                ],
            },
        ));
        let screen = term.contents();
        assert!(
            screen.contains("restore approved by ann (OS user ann), bob (OS user bob) after 3.9s"),
            "{screen}"
        );
        assert!(
            !screen
                .lines()
                .any(|l| l.contains("waiting: runbook approve")),
            "the row is gone:\n{screen}"
        );
    }

    #[test]
    fn a_failed_step_without_an_answer_does_not_keep_the_view_hidden() {
        let term = InMemoryTerm::new(20, 100);
        let mut live = on(&term, false);
        live.event(&record(
            1100,
            Event::ApprovalRequested {
                step: "restore".into(),
                question: "go?".into(),
            },
        ));
        live.event(&ok("restore"));
        assert!(live.awaiting.is_empty());
        assert!(term.contents().contains("✓ restore ok 1s"));
    }

    #[test]
    fn verbose_prints_every_output_line() {
        let term = InMemoryTerm::new(20, 100);
        let mut live = on(&term, true);
        live.event(&started("restore"));
        live.event(&record(
            1500,
            Event::StepOutput {
                step: "restore".into(),
                line: "\x1b[1mone\x1b[0m".into(),
            },
        ));
        assert!(
            term.contents().contains("  restore | one"),
            "{}",
            term.contents()
        );
    }

    fn full_run_started() -> Record {
        let Some(crate::ui::script::Play::Event(first)) = full_run().into_iter().next() else {
            unreachable!("the script starts with run_started")
        };
        *first
    }
}
