//! `[playbook] schedule`: a five-field cron expression (minute, hour, day of month, month, day
//! of week) read in UTC. Parsing and the due times are `croner`'s; this file keeps to what
//! crontab, systemd timers and Kubernetes `CronJob`s all understand, and gives each field's
//! values so that `runbook schedule` can write a systemd calendar for the same times.

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// A valid schedule.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    source: String,
    cron: Cron,
}

/// Why a schedule is not valid, and what to write instead when that can be guessed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError {
    pub reason: String,
    pub suggestion: Option<String>,
}

/// The values each field matches, for a calendar that is not cron.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    pub minutes: Vec<u16>,
    pub hours: Vec<u16>,
    /// `None`: any day of the month (`*`).
    pub days: Option<Vec<u16>>,
    pub months: Vec<u16>,
    /// `None`: any day of the week (`*`); 0 is Sunday.
    pub weekdays: Option<Vec<u16>>,
}

const NICKNAMES: [(&str, &str); 7] = [
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

impl CronSchedule {
    /// Parses a five-field expression.
    pub fn parse(text: &str) -> Result<Self, ScheduleError> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        if let [one] = fields.as_slice()
            && one.starts_with('@')
        {
            let suggestion = NICKNAMES
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(one))
                .map(|(_, five)| (*five).to_owned());
            return Err(ScheduleError {
                reason: format!("`{one}` is a nickname, not five fields"),
                suggestion,
            });
        }
        if fields.len() != 5 {
            return Err(ScheduleError {
                reason: format!(
                    "it has {} {}; a schedule has five: minute, hour, day of month, month, day of week (no seconds, no year)",
                    fields.len(),
                    if fields.len() == 1 { "field" } else { "fields" }
                ),
                suggestion: None,
            });
        }
        let parser = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build();
        let cron = parser.parse(text).map_err(|e| ScheduleError {
            reason: e.to_string().trim_end_matches('.').to_owned(),
            suggestion: None,
        })?;
        let p = &cron.pattern;
        if p.days.has_modifiers() || p.days_of_week.has_modifiers() || p.matches_dom_and_dow() {
            return Err(ScheduleError {
                reason: "`L`, `W`, `#` and `+` are extensions that crontab, systemd and Kubernetes do not all understand".to_owned(),
                suggestion: None,
            });
        }
        // A pattern that never matches (`0 0 31 2 *`) would make every due time a search to
        // the year 5000.
        let probe = DateTime::<Utc>::from_timestamp(0, 0).expect("the epoch is a time");
        if cron.find_next_occurrence(&probe, false).is_err() {
            return Err(ScheduleError {
                reason: "it never matches a real date".to_owned(),
                suggestion: None,
            });
        }
        Ok(Self {
            source: fields.join(" "),
            cron,
        })
    }

    /// The expression, with single spaces between fields.
    #[must_use]
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The first due time after `t`.
    #[must_use]
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&t, false).ok()
    }

    /// The latest due time at or before `t`.
    #[must_use]
    pub fn last_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_previous_occurrence(&t, true).ok()
    }

    /// The values of each field.
    #[must_use]
    pub fn fields(&self) -> Fields {
        let p = &self.cron.pattern;
        Fields {
            minutes: p.minutes.values(),
            hours: p.hours.values(),
            days: (!p.is_dom_wildcard()).then(|| p.days.values()),
            months: p.months.values(),
            weekdays: (!p.is_dow_wildcard()).then(|| p.days_of_week.values()),
        }
    }
}

impl PartialEq for CronSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl std::fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("a time")
            .with_timezone(&Utc)
    }

    #[test]
    fn due_times_are_utc() {
        let s = CronSchedule::parse("0 2 * * *").expect("valid");
        assert_eq!(
            s.next_after(at("2026-12-03T11:00:00Z")),
            Some(at("2026-12-04T02:00:00Z"))
        );
        assert_eq!(
            s.last_at_or_before(at("2026-12-03T11:00:00Z")),
            Some(at("2026-12-03T02:00:00Z"))
        );
        assert_eq!(
            s.last_at_or_before(at("2026-12-03T02:00:00Z")),
            Some(at("2026-12-03T02:00:00Z"))
        );
    }

    #[test]
    fn only_portable_five_field_expressions_are_valid() {
        for ok in [
            "0 2 * * *",
            "*/15 8-17 * * 1-5",
            "0 0 1,15 JAN,jul *",
            "30  4 * * sun",
        ] {
            assert!(CronSchedule::parse(ok).is_ok(), "{ok}");
        }
        let err = |s: &str| CronSchedule::parse(s).expect_err(s);
        assert_eq!(err("@daily").suggestion.as_deref(), Some("0 0 * * *"));
        assert!(err("0 0 2 * * *").reason.contains("it has 6 fields"));
        assert!(err("0 2 * *").reason.contains("it has 4 fields"));
        assert!(err("0 0 L * *").reason.contains("extensions"));
        assert!(err("0 0 * * 5#2").reason.contains("extensions"));
        assert!(err("0 0 31 2 *").reason.contains("never matches"));
        assert!(!err("61 * * * *").reason.is_empty());
        assert!(!err("x y z w v").reason.is_empty());
    }

    #[test]
    fn fields_give_the_values_matched() {
        let f = CronSchedule::parse("*/20 9-11 * * mon-fri")
            .expect("valid")
            .fields();
        assert_eq!(f.minutes, [0, 20, 40]);
        assert_eq!(f.hours, [9, 10, 11]);
        assert_eq!(f.days, None);
        assert_eq!(f.months, (1..=12).collect::<Vec<_>>());
        assert_eq!(f.weekdays, Some(vec![1, 2, 3, 4, 5]));
        let sunday = CronSchedule::parse("0 0 * * 7").expect("valid").fields();
        assert_eq!(sunday.weekdays, Some(vec![0]));
    }
}
