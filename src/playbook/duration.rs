//! Durations in the playbook grammar: one or more `<integer><unit>` groups, largest unit first
//! (`"500ms"`, `"90s"`, `"1h 30m"`, `"2d"`), and the spelling a near miss probably meant.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A duration written in the playbook grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(Duration);

const UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1000),
    ("ms", 1),
];

/// Why a duration string is not in the grammar, and what it probably meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError {
    /// The grammar spelling of the same length of time, when one can be guessed.
    pub suggestion: Option<String>,
}

impl HumanDuration {
    #[must_use]
    pub const fn from_millis(ms: u64) -> Self {
        Self(Duration::from_millis(ms))
    }

    #[must_use]
    pub const fn get(self) -> Duration {
        self.0
    }

    #[must_use]
    pub fn as_millis(self) -> u64 {
        u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX)
    }

    #[must_use]
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl From<Duration> for HumanDuration {
    fn from(d: Duration) -> Self {
        Self(d)
    }
}

impl FromStr for HumanDuration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_strict(s)
            .map(Self::from_millis)
            .ok_or_else(|| DurationError {
                suggestion: suggest(s),
            })
    }
}

/// The grammar: groups of digits + unit, units strictly decreasing, optional spaces between groups.
fn parse_strict(s: &str) -> Option<u64> {
    let mut rest = s;
    let mut total: u64 = 0;
    let mut last_unit = usize::MAX;
    let mut groups = 0;
    loop {
        if groups > 0 {
            rest = rest.strip_prefix(' ').unwrap_or(rest);
        }
        if rest.is_empty() {
            return (groups > 0).then_some(total);
        }
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        // `ms` before `m` so that "500ms" is not read as minutes followed by garbage.
        let unit = [4, 0, 1, 2, 3]
            .into_iter()
            .find(|&i| rest.starts_with(UNITS[i].0))?;
        if unit != usize::MAX && last_unit != usize::MAX && unit <= last_unit {
            return None;
        }
        rest = &rest[UNITS[unit].0.len()..];
        if rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return None;
        }
        total = total.checked_add(n.checked_mul(UNITS[unit].1)?)?;
        last_unit = unit;
        groups += 1;
    }
}

/// Reads a loose spelling ("5 minutes", "1.5m", "5M", "30m 1h", "90") as a length of time and
/// writes it in the grammar.
fn suggest(s: &str) -> Option<String> {
    let s = s.trim();
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut total_ms: f64 = 0.0;
    let mut groups: Vec<(f64, (&str, u64))> = Vec::new();
    while i < bytes.len() {
        while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b',') {
            i += 1;
        }
        if i == bytes.len() {
            break;
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        let number: f64 = s[start..i].parse().ok()?;
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        let word_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = match &s[word_start..i] {
            // A bare number means seconds, as most tools read it.
            "" if groups.is_empty() && i == bytes.len() => UNITS[3],
            // "5M" is five months in humantime; the author meant minutes.
            "M" => UNITS[2],
            word => unit_word(&word.to_ascii_lowercase())?,
        };
        #[expect(clippy::cast_precision_loss, reason = "unit sizes are far below 2^52")]
        let size = unit.1 as f64;
        total_ms += number * size;
        groups.push((number, unit));
    }
    if groups.is_empty() || !total_ms.is_finite() {
        return None;
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "finite, non-negative, rounded"
    )]
    let ms = total_ms.round() as u64;
    let canonical = match groups.as_slice() {
        // One whole group keeps its unit: "90" becomes "90s", not "1m 30s".
        [(n, (unit, _))] if n.fract() == 0.0 => format!("{n}{unit}"),
        _ => format_exact(ms),
    };
    (canonical != s).then_some(canonical)
}

fn unit_word(word: &str) -> Option<(&'static str, u64)> {
    let index = match word {
        "d" | "day" | "days" => 0,
        "h" | "hr" | "hrs" | "hour" | "hours" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 2,
        "s" | "sec" | "secs" | "second" | "seconds" => 3,
        "ms" | "msec" | "msecs" | "millis" | "millisecond" | "milliseconds" => 4,
        _ => return None,
    };
    Some(UNITS[index])
}

/// The exact grammar spelling of a number of milliseconds: `1h 30m`, `1m 30s`, `500ms`, `0s`.
#[must_use]
pub fn format_exact(ms: u64) -> String {
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut rest = ms;
    let mut parts = Vec::new();
    for (unit, size) in UNITS {
        if rest >= size {
            parts.push(format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    parts.join(" ")
}

/// A duration as people read it: largest unit first, at most two groups, with a decimal
/// fraction on seconds under a minute (`41.2s`, `10m 30s`, `45m`, `1h 5m`).
#[must_use]
pub fn format_human(ms: u64) -> String {
    if ms == 0 {
        return "0s".to_owned();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    if ms < 60_000 {
        let tenths = (ms + 50) / 100;
        return if tenths % 10 == 0 {
            format!("{}s", tenths / 10)
        } else {
            format!("{}.{}s", tenths / 10, tenths % 10)
        };
    }
    let secs = (ms + 500) / 1000;
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let groups = [(d, "d"), (h, "h"), (m, "m"), (s, "s")];
    let first = groups.iter().position(|(n, _)| *n > 0).unwrap_or(3);
    groups[first..]
        .iter()
        .take(2)
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n}{u}"))
        .collect::<Vec<_>>()
        .join(" ")
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_exact(self.as_millis()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> Option<u64> {
        s.parse::<HumanDuration>()
            .ok()
            .map(HumanDuration::as_millis)
    }

    fn suggestion(s: &str) -> Option<String> {
        s.parse::<HumanDuration>().err().and_then(|e| e.suggestion)
    }

    #[test]
    fn accepts_the_grammar() {
        assert_eq!(ms("500ms"), Some(500));
        assert_eq!(ms("90s"), Some(90_000));
        assert_eq!(ms("1h 30m"), Some(5_400_000));
        assert_eq!(ms("1h30m"), Some(5_400_000));
        assert_eq!(ms("2d"), Some(172_800_000));
        assert_eq!(ms("1m 1s 1ms"), Some(61_001));
        assert_eq!(ms("0s"), Some(0));
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "",
            " ",
            "5",
            "5 minutes",
            "1.5m",
            "5M",
            "30m 1h",
            "1m 1m",
            "5 m",
            "1h  30m",
            "-5s",
            "5sec",
            "1m30",
        ] {
            assert_eq!(ms(bad), None, "{bad:?} should be rejected");
        }
    }

    #[test]
    fn suggests_what_was_meant() {
        assert_eq!(suggestion("5 minutes").as_deref(), Some("5m"));
        assert_eq!(suggestion("1.5m").as_deref(), Some("1m 30s"));
        assert_eq!(suggestion("5M").as_deref(), Some("5m"));
        assert_eq!(suggestion("30m 1h").as_deref(), Some("1h 30m"));
        assert_eq!(suggestion("90").as_deref(), Some("90s"));
        assert_eq!(suggestion("2 hours, 5 secs").as_deref(), Some("2h 5s"));
        assert_eq!(suggestion("soon"), None);
    }

    #[test]
    fn formats_for_people() {
        assert_eq!(format_human(41_230), "41.2s");
        assert_eq!(format_human(630_000), "10m 30s");
        assert_eq!(format_human(2_700_000), "45m");
        assert_eq!(format_human(3_900_000), "1h 5m");
        assert_eq!(format_human(999), "999ms");
        assert_eq!(format_human(5000), "5s");
        assert_eq!(format_human(962_000), "16m 2s");
    }
}
