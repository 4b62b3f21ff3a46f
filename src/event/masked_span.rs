//! Where the secrets of a masked text are: for each `***`, which secrets (by name) it hides and
//! at which offsets, so that [`unmask`] can put the text together again from the secrets alone.
//! Journaled for outputs and vars, it lets `resume` give later steps whole values without a
//! secret ever being written to disk.

use crate::event::MASK;

/// One `***` of a masked text and the secrets it hides, as [`Masker::spans`](crate::event::Masker::spans) finds them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct MaskedSpan {
    /// Byte offset of the `***` in the masked text.
    pub(crate) at: usize,
    /// Where it starts in the text before masking: only used while finding the spans.
    #[serde(skip)]
    pub(crate) start: usize,
    /// The secrets whose occurrences, overlapping or touching, the `***` covers.
    pub(crate) secrets: Vec<SecretAt>,
}

/// A secret inside a [`MaskedSpan`]: its name, and where it starts in what the `***` hides.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct SecretAt {
    /// `None` for a value masked without a name (a webhook URL): it cannot be supplied again.
    pub(crate) name: Option<String>,
    pub(crate) offset: usize,
}

/// Why a masked text cannot be put together again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UnmaskError {
    #[error("it contains the secret `{0}`, which is not set")]
    Missing(String),
    #[error(
        "it contains a secret runbook cannot name (a webhook URL, the answer to a secret input, or a secret output)"
    )]
    Unnamed,
    #[error("it contains the secret `{0}`, which is not the value it had in the run")]
    Different(String),
    #[error("its masked value in the journal does not match the secrets' places")]
    Damaged,
}

/// Puts a masked text together again from its [`MaskedSpan`]s and the secrets' values
/// (`secret(name)`): exactly the text that was masked, when the secrets are the same.
pub(crate) fn unmask(
    masked: &str,
    spans: &[MaskedSpan],
    secret: &dyn Fn(&str) -> Option<String>,
) -> Result<String, UnmaskError> {
    let mut out = String::with_capacity(masked.len());
    let mut at = 0;
    for span in spans {
        if span.at < at
            || !masked
                .get(span.at..)
                .is_some_and(|rest| rest.starts_with(MASK))
        {
            return Err(UnmaskError::Damaged);
        }
        out.push_str(&masked[at..span.at]);
        let mut hidden: Vec<u8> = Vec::new();
        for part in &span.secrets {
            let name = part.name.as_deref().ok_or(UnmaskError::Unnamed)?;
            let value = secret(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| UnmaskError::Missing(name.to_owned()))?;
            let value = value.as_bytes();
            // Occurrences overlap or touch, in order: each starts within what is known so far,
            // and agrees with it where they overlap.
            if part.offset > hidden.len() {
                return Err(UnmaskError::Different(name.to_owned()));
            }
            let overlap = (hidden.len() - part.offset).min(value.len());
            if hidden[part.offset..part.offset + overlap] != value[..overlap] {
                return Err(UnmaskError::Different(name.to_owned()));
            }
            hidden.extend_from_slice(&value[overlap..]);
        }
        out.push_str(std::str::from_utf8(&hidden).map_err(|_| UnmaskError::Damaged)?);
        at = span.at + MASK.len();
    }
    out.push_str(masked.get(at..).ok_or(UnmaskError::Damaged)?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{MaskedSpan, UnmaskError, unmask};
    use crate::event::{MASK, Masker};

    fn masker(secrets: &[&str]) -> Masker {
        Masker::new(secrets).expect("test secrets are small")
    }

    #[test]
    fn spans_put_any_masked_text_together_again_from_named_secrets() {
        // See: #11
        let secrets = ["aba", "bab", "abba", "b", "aab", "***"];
        let named: Vec<(String, &str)> = secrets
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("S{i}"), *s))
            .collect();
        let masker = Masker::new(secrets)
            .expect("masker")
            .with_names(named.iter().map(|(n, v)| (n.as_str(), *v)));
        let lookup = |name: &str| {
            named
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| (*v).to_owned())
        };
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |bound: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % (bound as u64)).expect("bound fits usize")
        };
        for _ in 0..2_000 {
            let len = next(24);
            let input: String = (0..len)
                .map(|_| ['a', 'b', 'x', '*', 'é'][next(5)])
                .collect();
            let hidden = masker.mask(&input);
            let spans = masker.spans(&input);
            assert!(hidden.matches(MASK).count() >= spans.len());
            assert_eq!(
                unmask(&hidden, &spans, &lookup).as_deref(),
                Ok(input.as_str()),
                "masked {hidden:?} spans {spans:?}"
            );
        }
    }

    #[test]
    fn unmask_names_a_missing_or_different_secret() {
        let masker =
            masker(&["hunter2", "hunter2x"]).with_names([("PW", "hunter2"), ("PWX", "hunter2x")]);
        let text = "a hunter2x b hunter2";
        let spans = masker.spans(text);
        let hidden = masker.mask(text);
        assert_eq!(hidden, "a *** b ***");
        let none = |_: &str| None;
        assert_eq!(
            unmask(&hidden, &spans, &none),
            Err(UnmaskError::Missing("PW".to_owned()))
        );
        let other = |name: &str| {
            Some(if name == "PW" {
                "other".to_owned()
            } else {
                "hunter2x".to_owned()
            })
        };
        assert!(matches!(
            unmask(&hidden, &spans, &other),
            Err(UnmaskError::Different(_))
        ));
        let unnamed = masker_unnamed_spans();
        assert_eq!(unmask("***", &unnamed, &none), Err(UnmaskError::Unnamed));
        let json = serde_json::to_string(&spans).expect("json");
        assert!(!json.contains("hunter"), "{json}");
    }

    fn masker_unnamed_spans() -> Vec<MaskedSpan> {
        masker(&["tok"]).spans("tok")
    }
}
