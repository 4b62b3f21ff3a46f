//! The run's vars: `[vars]`, then the environment's values, then each `--var-file` in order,
//! then each `--var`. Only declared vars, each of its declared kind.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use crate::error::Error;
use crate::playbook::diagnostic::did_you_mean;
use crate::playbook::model::VarValue;
use crate::playbook::{Diagnostic, Diagnostics, Playbook};
use crate::text::List;

/// `--var` and `--var-file`, shared by `run`, `plan` and `validate`.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct VarArgs {
    /// Override a declared var; an array or table var takes a TOML value:
    /// `--var 'databases=["n8n","veritas"]'`
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub(crate) vars: Vec<String>,
    /// Read var values from a TOML file whose top-level keys are declared vars (repeatable,
    /// applied in order, before --var)
    #[arg(long = "var-file", value_name = "FILE")]
    pub(crate) files: Vec<PathBuf>,
}

/// The playbook's vars with the environment's values, the files and the overrides applied.
pub(crate) fn apply(
    playbook: &Playbook,
    env: Option<&str>,
    args: &VarArgs,
) -> Result<IndexMap<String, VarValue>, Error> {
    let mut vars = playbook.vars.clone();
    if let Some(values) = env.and_then(|e| playbook.meta.environment_vars.get(e)) {
        vars.extend(values.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    for file in &args.files {
        vars.extend(var_file(playbook, file)?);
    }
    for text in &args.vars {
        let Some((key, value)) = text.split_once('=') else {
            return Err(Error::Usage(format!(
                "invalid `--var {text}`: write `--var key=value`"
            )));
        };
        let key = key.trim();
        let Some(declared) = playbook.vars.get(key) else {
            return Err(Error::Usage(format!(
                "unknown var `{key}` in `--var {text}`: only vars declared in [vars] can be overridden{}",
                declared_hint(playbook, key)
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

/// "; did you mean `x`?", or the declared vars.
fn declared_hint(playbook: &Playbook, key: &str) -> String {
    let declared: Vec<&str> = playbook.vars.keys().map(String::as_str).collect();
    match did_you_mean(key, declared.iter().copied()) {
        Some(close) => format!("; did you mean `{close}`?"),
        None if declared.is_empty() => {
            format!("; `{}` declares no vars", playbook.path().display())
        }
        None => format!(
            "; the vars of `{}` are {}",
            playbook.path().display(),
            List::ticked(declared)
        ),
    }
}

/// The values of one `--var-file`; every problem in it at its `FILE:LINE:COL`.
fn var_file(playbook: &Playbook, path: &Path) -> Result<IndexMap<String, VarValue>, Error> {
    let file = crate::playbook::find::read(path).map_err(|e| {
        Error::Usage(format!(
            "cannot read the var file `--var-file {}`: {}",
            path.display(),
            crate::error::chain(&e)
        ))
    })?;
    let mut problems = Diagnostics::default();
    let (root, syntax) = toml::de::DeTable::parse_recoverable(&file.text);
    for e in syntax {
        let reason = e.message().trim_end_matches('.').to_owned();
        problems.push(
            Diagnostic::error(
                &file,
                e.span().unwrap_or(0..0),
                format!("invalid TOML: {reason}"),
            )
            .with_help("a var file holds `name = value` lines, values written as in [vars]"),
        );
    }
    let mut out = IndexMap::new();
    if problems.0.is_empty() {
        let parsed: toml::Table = toml::from_str(&file.text).unwrap_or_default();
        for (key, value) in root.get_ref() {
            let name = key.get_ref().as_ref();
            let span = key.span();
            let Some(declared) = playbook.vars.get(name) else {
                problems.push(
                    Diagnostic::error(
                        &file,
                        span,
                        format!("unknown var `{name}` in var file: only vars declared in [vars] can be set{}", declared_hint(playbook, name)),
                    )
                    .with_help(format!("declare it in [vars] of `{}`, or remove it", playbook.path().display())),
                );
                continue;
            };
            let given = parsed.get(name).and_then(VarValue::from_toml);
            match given {
                Some(v) if declared.accepts(&v) => {
                    out.insert(name.to_owned(), v);
                }
                given => problems.push(
                    Diagnostic::error(
                        &file,
                        value.span(),
                        format!(
                            "var `{name}` is {} in var file, but [vars] declares it as {} ({name} = {declared})",
                            given.as_ref().map_or("a value a var cannot hold", VarValue::kind),
                            declared.kind()
                        ),
                    )
                    .with_help(format!("give it {}", declared.kind())),
                ),
            }
        }
    }
    if problems.0.is_empty() {
        Ok(out)
    } else {
        problems.sort();
        Err(Error::Invalid(problems))
    }
}

/// The `for_each` lists that `vars` make before the run: too many items or a repeated one is
/// an invalid playbook (exit 2), found before anything runs.
pub(crate) fn check_for_each(
    playbook: &Playbook,
    vars: &IndexMap<String, VarValue>,
) -> Result<(), Error> {
    let problems = crate::plan::for_each_problems(playbook, vars);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(Diagnostics(problems)))
    }
}
