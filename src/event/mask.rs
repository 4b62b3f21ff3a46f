//! Secret masking: every occurrence of a secret's value becomes `***` before text reaches a log,
//! the journal, a report, the terminal or a notification. [`Masker`] masks whole texts;
//! [`StreamMasker`] masks a byte stream that arrives in chunks, so a secret split between two
//! reads of a child's stdout is still caught.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, MatchKind};

use crate::event::{MaskedSpan, SecretAt};

/// What every occurrence of a secret is replaced with.
pub(crate) const MASK: &str = "***";

/// A failure to prepare masking; runbook must not go on without it, since output would leak.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RedactError {
    #[error("failed to prepare masking of {count} secrets: {reason}")]
    Build { count: usize, reason: String },
}

/// Masks the values of secrets in text.
///
/// Secrets are matched literally (byte for byte, so `.`, `*`, `$(`, quotes and backslashes mean
/// themselves). Every byte that belongs to an occurrence of any secret is masked: when
/// occurrences overlap or touch (`abcd` and `cdef` in `abcdef`), their union becomes a single
/// `***`, so no part of either leaks. Any non-empty value is a secret, however short: a secret of
/// one or two characters masks aggressively (every `a` in the output, for the secret `a`).
///
/// Cloning is cheap (the matcher is shared). `Debug` never prints the secrets.
#[derive(Clone, Default)]
pub(crate) struct Masker {
    /// `None` when there is no secret, which makes masking a no-op.
    inner: Option<Arc<Inner>>,
    /// The name of each of `inner.secrets` (the environment variable it came from), where
    /// known: what [`Masker::spans`] journals so that resume can put a masked output together.
    names: Arc<[Option<String>]>,
}

struct Inner {
    /// Overlapping search over all secrets (`MatchKind::Standard` is the only kind that has it).
    matcher: AhoCorasick,
    /// The distinct secrets, for the "could this tail still become a secret?" test.
    secrets: Vec<Box<[u8]>>,
    /// `starts[b]`: some secret starts with byte `b`; skips most positions of a tail cheaply.
    starts: [bool; 256],
    max_len: usize,
}

impl Masker {
    /// Builds a masker from secret values; empty values are ignored and duplicates merged.
    ///
    /// # Errors
    ///
    /// [`RedactError::Build`] when the matcher cannot be built, which takes secrets far beyond
    /// any real size (aho-corasick's state limits); runbook must then refuse to run.
    pub(crate) fn new<I, S>(secrets: I) -> Result<Self, RedactError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut values: Vec<Box<[u8]>> = secrets
            .into_iter()
            .filter(|secret| !secret.as_ref().is_empty())
            .map(|secret| secret.as_ref().as_bytes().into())
            .collect();
        values.sort_unstable();
        values.dedup();
        if values.is_empty() {
            return Ok(Self::default());
        }
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(&values)
            .map_err(|error| RedactError::Build {
                count: values.len(),
                reason: error.to_string(),
            })?;
        let mut starts = [false; 256];
        for value in &values {
            starts[usize::from(value[0])] = true;
        }
        let max_len = values.iter().map(|value| value.len()).max().unwrap_or(0);
        Ok(Self {
            names: vec![None; values.len()].into(),
            inner: Some(Arc::new(Inner {
                matcher,
                secrets: values,
                starts,
                max_len,
            })),
        })
    }

    /// Names the secrets whose value is among this masker's: `(name, value)` pairs, such as
    /// `("PGPASSWORD", "…")` for a playbook's `secrets`.
    #[must_use]
    pub(crate) fn with_names<'a>(
        mut self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        let Some(inner) = self.inner.as_deref() else {
            return self;
        };
        let mut names: Vec<Option<String>> = self.names.to_vec();
        for (name, value) in pairs {
            if let Ok(i) = inner
                .secrets
                .binary_search_by(|s| (**s).cmp(value.as_bytes()))
            {
                names[i].get_or_insert_with(|| name.to_owned());
            }
        }
        self.names = names.into();
        self
    }

    /// This masker's secrets (with their names) and `more`, which have no name: for a secret
    /// that becomes known during the run.
    ///
    /// # Errors
    ///
    /// [`RedactError::Build`], as for [`Masker::new`].
    pub(crate) fn extended(&self, more: &[String]) -> Result<Self, RedactError> {
        let known: Vec<(String, Option<String>)> = self
            .inner
            .as_deref()
            .map(|inner| {
                inner
                    .secrets
                    .iter()
                    .zip(self.names.iter())
                    .map(|(s, name)| (String::from_utf8_lossy(s).into_owned(), name.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let all = known
            .iter()
            .map(|(s, _)| s.as_str())
            .chain(more.iter().map(String::as_str));
        Ok(Self::new(all)?.with_names(
            known
                .iter()
                .filter_map(|(s, name)| name.as_deref().map(|n| (n, s.as_str()))),
        ))
    }

    /// Where the secrets are in `text`, as masking will hide them: for each `***` of the masked
    /// text, its byte offset there and the secrets that made it up (by name, at their offset in
    /// what the `***` hides). With these, the text can be put together again from the secrets
    /// alone ([`unmask`](crate::event::unmask)), so no secret needs to be written anywhere. Empty when no secret occurs.
    #[must_use]
    pub(crate) fn spans(&self, text: &str) -> Vec<MaskedSpan> {
        let Some(inner) = self.inner.as_deref() else {
            return Vec::new();
        };
        let mut found: Vec<(usize, usize, usize)> = inner
            .matcher
            .find_overlapping_iter(text.as_bytes())
            .map(|m| (m.start(), m.end(), m.pattern().as_usize()))
            .collect();
        found.sort_unstable();
        let mut spans: Vec<MaskedSpan> = Vec::new();
        // Where the last span ends, in `text` and in the masked text.
        let mut end = 0;
        let mut masked_end = 0;
        for (start, stop, pattern) in found {
            let name = self.names.get(pattern).cloned().flatten();
            match spans.last_mut() {
                // Overlapping or touching the last one: the same `***`.
                Some(last) if start <= end => {
                    last.secrets.push(SecretAt {
                        name,
                        offset: start - last.start,
                    });
                    end = end.max(stop);
                }
                _ => {
                    let at = masked_end + (start - end);
                    spans.push(MaskedSpan {
                        at,
                        start,
                        secrets: vec![SecretAt { name, offset: 0 }],
                    });
                    end = stop;
                    masked_end = at + MASK.len();
                }
            }
        }
        spans
    }

    /// Whether there is no secret to mask.
    #[must_use]
    pub(crate) fn is_empty(&self) -> bool {
        self.inner.is_none()
    }

    /// The length in bytes of the longest secret (0 without secrets).
    #[cfg(test)]
    #[must_use]
    pub(crate) fn max_secret_len(&self) -> usize {
        self.inner.as_ref().map_or(0, |inner| inner.max_len)
    }

    /// Masks `text`; borrows it unchanged when no secret occurs in it.
    #[must_use]
    pub(crate) fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let Some(inner) = self.inner.as_deref() else {
            return Cow::Borrowed(text);
        };
        let ranges = inner.covered(text.as_bytes(), None);
        if ranges.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut masked = String::with_capacity(text.len());
        let mut at = 0;
        for range in &ranges {
            // Secrets are whole UTF-8 strings, so their occurrences start and end on char
            // boundaries of a UTF-8 text and these slices cannot split a character.
            masked.push_str(&text[at..range.start]);
            masked.push_str(MASK);
            at = range.end;
        }
        masked.push_str(&text[at..]);
        Cow::Owned(masked)
    }

    /// Masks bytes that need not be UTF-8; borrows them unchanged when no secret occurs in them.
    #[cfg(test)]
    #[must_use]
    pub(crate) fn mask_bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        let Some(inner) = self.inner.as_deref() else {
            return Cow::Borrowed(bytes);
        };
        let ranges = inner.covered(bytes, None);
        if ranges.is_empty() {
            return Cow::Borrowed(bytes);
        }
        let mut masked = Vec::with_capacity(bytes.len());
        render(bytes, &ranges, bytes.len(), &mut masked);
        Cow::Owned(masked)
    }

    /// A masker for one stream of chunks (one per stream: stdout and stderr separately).
    #[must_use]
    pub(crate) fn stream(&self) -> StreamMasker {
        StreamMasker {
            masker: self.clone(),
            pending: Vec::new(),
            open: None,
        }
    }
}

impl fmt::Debug for Masker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.inner.as_ref().map_or(0, |inner| inner.secrets.len());
        f.debug_struct("Masker")
            .field("secrets", &count)
            .finish_non_exhaustive()
    }
}

/// Masks a byte stream that arrives in arbitrary chunks.
///
/// [`push`](Self::push) returns what is safe to emit now and holds back only the trailing bytes
/// that are a proper prefix of some secret (at most `max_secret_len - 1`), so live output keeps
/// flowing and no beginning of a secret is ever emitted before the secret is known not to
/// complete. [`finish`](Self::finish) releases what is held back. The concatenated output is
/// exactly `Masker::mask_bytes` of the concatenated input, however it was chunked.
pub(crate) struct StreamMasker {
    masker: Masker,
    /// Input not yet emitted: a suffix that could still grow into a secret.
    pending: Vec<u8>,
    /// `Some(n)`: the last `***` emitted covers the first `n` bytes of `pending` and is still
    /// open, so an occurrence that overlaps or touches them extends it rather than adding a
    /// second `***`.
    open: Option<usize>,
}

impl StreamMasker {
    /// Takes the next chunk and returns the masked bytes that can be emitted now.
    ///
    /// Borrows from `chunk` when nothing is held back from earlier and no secret occurs in it.
    pub(crate) fn push<'a>(&mut self, chunk: &'a [u8]) -> Cow<'a, [u8]> {
        let Some(inner) = self.masker.inner.as_deref() else {
            return Cow::Borrowed(chunk);
        };
        let input: Cow<'a, [u8]> = if self.pending.is_empty() {
            Cow::Borrowed(chunk)
        } else {
            let mut joined = std::mem::take(&mut self.pending);
            joined.extend_from_slice(chunk);
            Cow::Owned(joined)
        };
        let ranges = inner.covered(&input, self.open.take());
        let cut = inner.hold_from(&input);
        self.pending = input[cut..].to_vec();
        if ranges.is_empty() {
            return match input {
                Cow::Borrowed(bytes) => Cow::Borrowed(&bytes[..cut]),
                Cow::Owned(mut bytes) => {
                    bytes.truncate(cut);
                    Cow::Owned(bytes)
                }
            };
        }
        let mut out = Vec::with_capacity(cut);
        self.open = render(&input, &ranges, cut, &mut out);
        Cow::Owned(out)
    }

    /// Ends the stream: returns the masked bytes still held back.
    #[must_use]
    pub(crate) fn finish(mut self) -> Vec<u8> {
        let Some(inner) = self.masker.inner.as_deref() else {
            return self.pending;
        };
        let ranges = inner.covered(&self.pending, self.open.take());
        let mut out = Vec::with_capacity(self.pending.len());
        render(&self.pending, &ranges, self.pending.len(), &mut out);
        out
    }
}

impl fmt::Debug for StreamMasker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The held-back bytes may be the start of a secret: show only their length.
        f.debug_struct("StreamMasker")
            .field("masker", &self.masker)
            .field("held_back", &self.pending.len())
            .finish_non_exhaustive()
    }
}

/// A merged run of masked bytes, `start..end`; `continued` when its `***` was already emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Covered {
    start: usize,
    end: usize,
    continued: bool,
}

impl Inner {
    /// The byte ranges of `haystack` covered by secrets, sorted, with overlapping or touching
    /// occurrences merged. `open` is a mask still open from the previous chunk (see
    /// [`StreamMasker::open`]).
    fn covered(&self, haystack: &[u8], open: Option<usize>) -> Vec<Covered> {
        let mut found: Vec<(usize, usize)> = self
            .matcher
            .find_overlapping_iter(haystack)
            .map(|found| (found.start(), found.end()))
            .collect();
        if found.is_empty() && open.is_none() {
            return Vec::new();
        }
        found.sort_unstable();
        let mut merged: Vec<Covered> = Vec::with_capacity(found.len() + 1);
        if let Some(end) = open {
            merged.push(Covered {
                start: 0,
                end,
                continued: true,
            });
        }
        for (start, end) in found {
            match merged.last_mut() {
                Some(last) if start <= last.end => last.end = last.end.max(end),
                _ => merged.push(Covered {
                    start,
                    end,
                    continued: false,
                }),
            }
        }
        merged
    }

    /// The earliest position from which the rest of `input` is a proper prefix of a secret,
    /// i.e. could still become one when more input arrives; `input.len()` when there is none.
    fn hold_from(&self, input: &[u8]) -> usize {
        let from = input.len().saturating_sub(self.max_len.saturating_sub(1));
        (from..input.len())
            .find(|&at| {
                let tail = &input[at..];
                self.starts[usize::from(tail[0])]
                    && self
                        .secrets
                        .iter()
                        .any(|secret| secret.len() > tail.len() && secret.starts_with(tail))
            })
            .unwrap_or(input.len())
    }
}

/// Writes `input[..cut]` masked by `ranges` into `out`. Returns the mask left open at `cut`
/// (how many bytes after `cut` it already covers), if a masked range reaches `cut`.
fn render(input: &[u8], ranges: &[Covered], cut: usize, out: &mut Vec<u8>) -> Option<usize> {
    let mut at = 0;
    for range in ranges {
        let reaches_cut = range.end >= cut && (range.start < cut || range.continued);
        if range.start >= cut && !reaches_cut {
            break;
        }
        out.extend_from_slice(&input[at..range.start]);
        if !range.continued {
            out.extend_from_slice(MASK.as_bytes());
        }
        if reaches_cut {
            return Some(range.end - cut);
        }
        at = range.end;
    }
    out.extend_from_slice(&input[at..cut]);
    None
}

/// The secrets of `names` that `env` sets to a non-empty value: name and value. These are the
/// values a run masks; where the names are known, a masked value can be named in the record.
#[must_use]
pub(crate) fn secrets_in<'a>(
    names: &'a [String],
    env: &'a std::collections::BTreeMap<String, String>,
) -> Vec<(&'a str, &'a str)> {
    names
        .iter()
        .filter_map(|name| Some((name.as_str(), env.get(name)?.as_str())))
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::{MASK, Masker, StreamMasker};

    fn masker(secrets: &[&str]) -> Masker {
        Masker::new(secrets).expect("test secrets are small")
    }

    /// Feeds `chunks` through a stream masker, checking each push is bounded, and returns the
    /// concatenated output.
    fn stream(masker: &Masker, chunks: &[&[u8]]) -> Vec<u8> {
        let mut stream = masker.stream();
        let mut out = Vec::new();
        for chunk in chunks {
            out.extend_from_slice(&stream.push(chunk));
            assert!(
                stream.pending.len() < masker.max_secret_len().max(1),
                "held back {} bytes",
                stream.pending.len()
            );
        }
        out.extend_from_slice(&stream.finish());
        out
    }

    #[test]
    fn masks_every_occurrence() {
        let masker = masker(&["hunter2"]);
        assert_eq!(
            masker.mask("pw=hunter2 again hunter2."),
            "pw=*** again ***."
        );
    }

    #[test]
    fn an_extended_masker_masks_both_and_keeps_the_names() {
        let named = masker(&["hunter2"]).with_names([("PGPASSWORD", "hunter2")]);
        let extended = named
            .extended(&["s3cr3t".to_owned()])
            .expect("small secrets");
        assert_eq!(extended.mask("hunter2 and s3cr3t"), "*** and ***");
        let spans = extended.spans("x hunter2");
        assert_eq!(spans[0].secrets[0].name.as_deref(), Some("PGPASSWORD"));
        let learned = Masker::default()
            .extended(&["s3cr3t".to_owned()])
            .expect("small secrets");
        assert_eq!(learned.mask("s3cr3t!"), "***!");
    }

    #[test]
    fn no_match_borrows() {
        let masker = masker(&["hunter2"]);
        assert!(matches!(masker.mask("nothing here"), Cow::Borrowed(_)));
        assert!(matches!(masker.mask_bytes(b"nothing"), Cow::Borrowed(_)));
    }

    #[test]
    fn no_secrets_is_pass_through_without_copy() {
        let masker = masker(&["", ""]);
        assert!(masker.is_empty());
        assert!(matches!(masker.mask("a *** b"), Cow::Borrowed("a *** b")));
        let mut stream = masker.stream();
        let chunk = b"\xffbytes\n";
        assert!(matches!(stream.push(chunk), Cow::Borrowed(out) if out == chunk));
        assert!(stream.finish().is_empty());
    }

    #[test]
    fn debug_does_not_show_secrets() {
        let shown = format!("{:?}", masker(&["hunter2"]));
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn secret_containing_another_is_masked_whole() {
        let masker = masker(&["pass", "password123"]);
        assert_eq!(masker.mask("x password123 y pass z"), "x *** y *** z");
    }

    #[test]
    fn overlapping_secrets_mask_their_union() {
        let masker = masker(&["abcd", "cdef"]);
        assert_eq!(masker.mask("xabcdefx"), "x***x");
        assert_eq!(masker.mask("xcdefabcdx"), "x***x");
        // Touching occurrences merge too, so the mask does not depend on chunking.
        assert_eq!(masker.mask("abcdabcd"), "***");
    }

    #[test]
    fn metacharacters_match_literally() {
        let secret = r#"p@ss.w*rd$(x)|'"\"#;
        let masker = masker(&[secret]);
        assert_eq!(masker.mask(&format!("a {secret} b")), "a *** b");
        assert_eq!(masker.mask(r#"p@ssXw*rd$(x)|'"\"#), r#"p@ssXw*rd$(x)|'"\"#);
        assert_eq!(masker.mask("p@ss.wwwrd"), "p@ss.wwwrd");
        let streamed = stream(&masker, &[b"a p@ss.w*r", br#"d$(x)|'"\ b"#]);
        assert_eq!(streamed, b"a *** b");
    }

    #[test]
    fn short_secrets_mask_aggressively() {
        assert_eq!(masker(&["a"]).mask("banana"), "b***n***n***");
    }

    #[test]
    fn multibyte_secrets_keep_utf8_valid() {
        let masker = masker(&["пароль"]);
        assert_eq!(masker.mask("ключ=пароль;"), "ключ=***;");
    }

    #[test]
    fn non_utf8_passes_through_except_secrets() {
        let masker = masker(&["token"]);
        let input = b"\xff\xfe token \x80\x00";
        assert_eq!(masker.mask_bytes(input).as_ref(), b"\xff\xfe *** \x80\x00");
        assert_eq!(
            stream(&masker, &[b"\xff\xfe to", b"ken \x80\x00"]),
            b"\xff\xfe *** \x80\x00"
        );
    }

    #[test]
    fn split_at_every_position_of_two_chunks() {
        let masker = masker(&["s3cr3t-value"]);
        let input = b"before s3cr3t-value after";
        for split in 0..=input.len() {
            let (a, b) = input.split_at(split);
            assert_eq!(
                stream(&masker, &[a, b]),
                b"before *** after",
                "split at {split}"
            );
        }
    }

    #[test]
    fn split_over_three_chunks() {
        let masker = masker(&["s3cr3t-value"]);
        let input = b"x s3cr3t-value y";
        for first in 0..=input.len() {
            for second in first..=input.len() {
                let chunks = [&input[..first], &input[first..second], &input[second..]];
                assert_eq!(
                    stream(&masker, &chunks),
                    b"x *** y",
                    "cuts {first} {second}"
                );
            }
        }
    }

    #[test]
    fn one_byte_chunks() {
        let masker = masker(&["abcd", "cdef", "hunter2"]);
        let input = b"1 abcdef 2 hunter2hunter2 3 abc 4 hunter";
        let chunks: Vec<&[u8]> = input.chunks(1).collect();
        let expected = masker.mask_bytes(input).into_owned();
        assert_eq!(expected, b"1 *** 2 *** 3 abc 4 hunter");
        assert_eq!(stream(&masker, &chunks), expected);
    }

    #[test]
    fn held_prefix_is_released_when_it_stops_matching() {
        let masker = masker(&["secret"]);
        let mut stream = masker.stream();
        assert_eq!(stream.push(b"the secr").as_ref(), b"the ");
        assert_eq!(stream.push(b"e").as_ref(), b"");
        assert_eq!(stream.push(b"cy!").as_ref(), b"secrecy!");
        assert_eq!(stream.push(b"secre").as_ref(), b"");
        assert_eq!(stream.push(b"tary").as_ref(), b"***ary");
        assert_eq!(stream.finish(), b"");
    }

    #[test]
    fn prefix_that_never_completes_comes_out_at_finish() {
        let masker = masker(&["secret"]);
        let mut stream = masker.stream();
        let mut out = stream.push(b"log line ends with secre").into_owned();
        assert_eq!(out, b"log line ends with ");
        out.extend_from_slice(&stream.finish());
        assert_eq!(out, b"log line ends with secre");
    }

    #[test]
    fn holds_back_no_more_than_needed() {
        let masker = masker(&["secret"]);
        let mut stream = masker.stream();
        assert!(matches!(
            stream.push(b"plain output\n"),
            Cow::Borrowed(b"plain output\n")
        ));
        assert_eq!(stream.push(b"no risk: xyz").as_ref(), b"no risk: xyz");
        assert_eq!(stream.push(b"ends in s").as_ref(), b"ends in ");
        assert_eq!(stream.push(b"x").as_ref(), b"sx");
        assert_eq!(stream.finish(), b"");
    }

    #[test]
    fn complete_secret_that_may_grow_is_held() {
        // `abc` is complete, but `abcdef` may still follow: emitting `***` now and `def` later
        // would leak the end of the longer secret.
        let masker = masker(&["abc", "abcdef"]);
        let mut stream = masker.stream();
        assert_eq!(stream.push(b"1 abc").as_ref(), b"1 ");
        assert_eq!(
            stream.push(b"def 2").as_ref(),
            format!("{MASK} 2").as_bytes()
        );
        assert_eq!(stream.finish(), b"");
    }

    #[test]
    fn overlapping_secrets_across_chunks() {
        let masker = masker(&["abcd", "cdef"]);
        assert_eq!(stream(&masker, &[b"xabcd", b"efx"]), b"x***x");
        assert_eq!(stream(&masker, &[b"xab", b"cd", b"ef", b"x"]), b"x***x");
        assert_eq!(stream(&masker, &[b"abcd", b"abcd"]), b"***");
    }

    #[test]
    fn streaming_equals_whole_masking_for_any_chunking() {
        // A deterministic pseudo-random search over a tiny alphabet, where overlaps are common.
        let masker = masker(&["aba", "bab", "abba", "b", "aab"]);
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |bound: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % (bound as u64)).expect("bound fits usize")
        };
        for _ in 0..2_000 {
            let len = next(24);
            let input: Vec<u8> = (0..len).map(|_| b"abx"[next(3)]).collect();
            let mut cuts: Vec<usize> = (0..next(5)).map(|_| next(len + 1)).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut at = 0;
            for cut in cuts {
                chunks.push(&input[at..cut]);
                at = cut;
            }
            chunks.push(&input[at..]);
            let expected = masker.mask_bytes(&input).into_owned();
            assert_eq!(
                stream(&masker, &chunks),
                expected,
                "input {input:?} chunks {chunks:?}"
            );
        }
    }

    #[test]
    fn stream_masker_is_debug_without_secrets() {
        let mut stream: StreamMasker = masker(&["hunter2"]).stream();
        assert_eq!(stream.push(b"x hunte").as_ref(), b"x ");
        let shown = format!("{stream:?}");
        assert!(
            !shown.contains("hunte") && !shown.contains("104, 117"),
            "{shown}"
        );
    }
}
