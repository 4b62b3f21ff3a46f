//! Prose helpers, the leaf every stage uses: `count(2, "step")` is "2 steps", and
//! `List::and_ticked(["a", "b", "c"])` is "`a`, `b`, and `c`" (casey/just `src/count.rs`,
//! `src/list.rs`), so that no message inlines its own plural or list.

use std::fmt::{self, Display};

/// `n` and the noun, plural when `n != 1`.
pub(crate) fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {}", plural(noun))
    }
}

/// A rate from 0 to 1 as a percentage with one decimal: `0.95` is "95.0%".
pub(crate) fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

fn plural(noun: &str) -> String {
    if noun.ends_with('s') || noun.ends_with("sh") || noun.ends_with("ch") {
        format!("{noun}es")
    } else if let Some(stem) = noun
        .strip_suffix('y')
        .filter(|s| !s.ends_with(['a', 'e', 'o', 'u']))
    {
        format!("{stem}ies")
    } else {
        format!("{noun}s")
    }
}

/// A list of values for a message, each in backticks: "`a`, `b`", or with a conjunction
/// before the last, "`a`, `b`, or `c`". Displays as the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct List {
    items: Vec<String>,
    conjunction: Option<&'static str>,
}

impl List {
    /// "`a`, `b`, `c`": joined with commas only.
    pub(crate) fn ticked<T: Display>(values: impl IntoIterator<Item = T>) -> Self {
        Self::new(values, None)
    }

    /// "`a`", "`a` and `b`", "`a`, `b`, and `c`".
    pub(crate) fn and_ticked<T: Display>(values: impl IntoIterator<Item = T>) -> Self {
        Self::new(values, Some("and"))
    }

    /// "`a`", "`a` or `b`", "`a`, `b`, or `c`".
    pub(crate) fn or_ticked<T: Display>(values: impl IntoIterator<Item = T>) -> Self {
        Self::new(values, Some("or"))
    }

    fn new<T: Display>(
        values: impl IntoIterator<Item = T>,
        conjunction: Option<&'static str>,
    ) -> Self {
        Self {
            items: values.into_iter().map(|v| format!("`{v}`")).collect(),
            conjunction,
        }
    }
}

impl Display for List {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = self.items.len().saturating_sub(1);
        for (i, item) in self.items.iter().enumerate() {
            match (i, self.conjunction) {
                (0, _) => {}
                (1, Some(c)) if last == 1 => write!(f, " {c} ")?,
                (i, Some(c)) if i == last => write!(f, ", {c} ")?,
                _ => f.write_str(", ")?,
            }
            f.write_str(item)?;
        }
        Ok(())
    }
}

/// The OS's words for an error, without Rust's ` (os error 2)` suffix.
pub(crate) fn os_error(error: &std::io::Error) -> String {
    match error.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_owned(),
        None => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(count(1, "step"), "1 step");
        assert_eq!(count(0, "step"), "0 steps");
        assert_eq!(count(3, "playbook"), "3 playbooks");
        assert_eq!(count(2, "dependency"), "2 dependencies");
        assert_eq!(count(2, "process"), "2 processes");
    }

    #[test]
    fn lists() {
        let none: [&str; 0] = [];
        assert_eq!(List::ticked(none).to_string(), "");
        assert_eq!(List::and_ticked(none).to_string(), "");
        assert_eq!(List::ticked(["a"]).to_string(), "`a`");
        assert_eq!(List::ticked(["a", "b", "c"]).to_string(), "`a`, `b`, `c`");
        assert_eq!(List::and_ticked(["a"]).to_string(), "`a`");
        assert_eq!(List::and_ticked(["a", "b"]).to_string(), "`a` and `b`");
        assert_eq!(
            List::and_ticked(["a", "b", "c"]).to_string(),
            "`a`, `b`, and `c`"
        );
        assert_eq!(List::or_ticked(["a", "b"]).to_string(), "`a` or `b`");
        assert_eq!(List::or_ticked([1, 2, 3]).to_string(), "`1`, `2`, or `3`");
    }
}
