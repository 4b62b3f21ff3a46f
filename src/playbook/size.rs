//! Sizes (`min_size`): an integer number of bytes, or a string with a unit (`B`, `KB`, `MB`,
//! `GB` in powers of 1000; `KiB`, `MiB`, `GiB` in powers of 1024).

use std::fmt;

/// A number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

const UNITS: [(&str, u64); 7] = [
    ("B", 1),
    ("KB", 1000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("KiB", 1024),
    ("MiB", 1024 * 1024),
    ("GiB", 1024 * 1024 * 1024),
];

/// Reads `"10MB"` or `"10 MiB"`; on failure returns the spelling it probably meant, if any.
pub fn parse_size(s: &str) -> Result<ByteSize, Option<String>> {
    let t = s.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(None);
    }
    let Ok(n) = t[..digits].parse::<u64>() else {
        return Err(None);
    };
    let word = t[digits..].trim_start();
    if let Some((_, mult)) = UNITS.iter().find(|(u, _)| *u == word) {
        return n.checked_mul(*mult).map(ByteSize).ok_or(None);
    }
    let guess = match word.to_ascii_lowercase().as_str() {
        "" | "b" | "byte" | "bytes" => "B",
        "k" | "kb" | "kilobyte" | "kilobytes" => "KB",
        "m" | "mb" | "megabyte" | "megabytes" => "MB",
        "g" | "gb" | "gigabyte" | "gigabytes" => "GB",
        "kib" | "kibibyte" | "kibibytes" => "KiB",
        "mib" | "mebibyte" | "mebibytes" => "MiB",
        "gib" | "gibibyte" | "gibibytes" => "GiB",
        _ => return Err(None),
    };
    Err(Some(format!("{n}{guess}")))
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if n >= size && n % size == 0 {
                return write!(f, "{}{unit}", n / size);
            }
        }
        for (unit, size) in [("GB", 1_000_000_000u64), ("MB", 1_000_000), ("KB", 1000)] {
            if n >= size && n % size == 0 {
                return write!(f, "{}{unit}", n / size);
            }
        }
        write!(f, "{n}B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_size("10MB"), Ok(ByteSize(10_000_000)));
        assert_eq!(parse_size("1 KiB"), Ok(ByteSize(1024)));
        assert_eq!(parse_size("7B"), Ok(ByteSize(7)));
    }

    #[test]
    fn suggests_units() {
        assert_eq!(parse_size("10 megabytes"), Err(Some("10MB".to_owned())));
        assert_eq!(parse_size("10mib"), Err(Some("10MiB".to_owned())));
        assert_eq!(parse_size("10"), Err(Some("10B".to_owned())));
        assert_eq!(parse_size("lots"), Err(None));
    }

    #[test]
    fn displays_compactly() {
        assert_eq!(ByteSize(1024 * 1024).to_string(), "1MiB");
        assert_eq!(ByteSize(5_000_000).to_string(), "5MB");
        assert_eq!(ByteSize(123).to_string(), "123B");
    }
}
