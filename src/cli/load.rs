//! The playbook a command is given: found, validated, and admitted to the target environment.

use crate::cli::io::print_warnings;
use crate::error::Error;
use crate::playbook::find::Library;

/// Finds (`NAME`, `NAME@REQ` or a file) and validates a playbook; warnings go to stderr.
pub(crate) fn load(library: &Library, arg: &str) -> Result<crate::playbook::Validated, Error> {
    let path = library.resolve(arg)?;
    let validated = crate::playbook::find::load(&path)?.map_err(Error::Invalid)?;
    print_warnings(&validated.warnings);
    Ok(validated)
}

/// Refuses an `--env` that the playbook does not allow.
pub(crate) fn check_env(
    playbook: &crate::playbook::Playbook,
    env: Option<&str>,
) -> Result<(), String> {
    match (&playbook.meta.environments, env) {
        (Some(allowed), Some(env)) if !allowed.iter().any(|a| a == env) => {
            let list = crate::text::List::ticked(allowed);
            let hint = crate::playbook::diagnostic::did_you_mean_suffix(
                env,
                allowed.iter().map(String::as_str),
            );
            Err(format!(
                "environment `{env}` is not allowed for `{}`: it may run in {list}{hint}",
                playbook.label()
            ))
        }
        _ => Ok(()),
    }
}
