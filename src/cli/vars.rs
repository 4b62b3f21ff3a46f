//! `--var key=value` overrides: only declared vars, parsed into the declared type.

use indexmap::IndexMap;

use crate::error::Error;
use crate::playbook::Playbook;
use crate::playbook::diagnostic::did_you_mean;
use crate::playbook::model::VarValue;
use crate::text::List;

/// The playbook's vars with the overrides applied.
pub(crate) fn apply(
    playbook: &Playbook,
    overrides: &[String],
) -> Result<IndexMap<String, VarValue>, Error> {
    let mut vars = playbook.vars.clone();
    for text in overrides {
        let Some((key, value)) = text.split_once('=') else {
            return Err(Error::Usage(format!(
                "invalid `--var {text}`: write `--var key=value`"
            )));
        };
        let key = key.trim();
        let Some(declared) = playbook.vars.get(key) else {
            let declared: Vec<&str> = playbook.vars.keys().map(String::as_str).collect();
            let hint = match did_you_mean(key, declared.iter().copied()) {
                Some(close) => format!("; did you mean `{close}`?"),
                None if declared.is_empty() => {
                    format!("; `{}` declares no vars", playbook.path().display())
                }
                None => format!(
                    "; the vars of `{}` are {}",
                    playbook.path().display(),
                    List::ticked(declared)
                ),
            };
            return Err(Error::Usage(format!(
                "unknown var `{key}` in `--var {text}`: only vars declared in [vars] can be overridden{hint}"
            )));
        };
        let parsed = declared.parse_like(value).map_err(|expected| {
            Error::Usage(format!(
                "invalid value `{value}` for var `{key}` in `--var {text}`: expected {expected}, as declared in [vars] ({key} = {declared})"
            ))
        })?;
        vars.insert(key.to_owned(), parsed);
    }
    Ok(vars)
}
