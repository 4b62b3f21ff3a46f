//! The JSON Schema of the playbook format, generated from the raw types, so editors (taplo,
//! Even Better TOML) complete and check playbooks through their `#:schema` line.

use crate::playbook::raw::RawPlaybook;

/// Where the schema is published in the repository.
pub const SCHEMA_PATH: &str = "schemas/playbook.schema.json";

/// The schema as pretty-printed JSON with a trailing newline.
#[must_use]
pub fn json_schema() -> String {
    let mut schema = schemars::generate::SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<RawPlaybook>();
    schema.insert("title".to_owned(), "runbook playbook".into());
    schema.insert(
        "description".to_owned(),
        "A disaster-recovery procedure for runbook: playbook format version 1.".into(),
    );
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed schema is the generated one: regenerate it with
    /// `cargo run -- schema > schemas/playbook.schema.json`.
    #[test]
    fn committed_schema_is_current() {
        let committed = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/schemas/playbook.schema.json"
        ))
        .expect("schemas/playbook.schema.json exists");
        assert!(
            committed == json_schema(),
            "schemas/playbook.schema.json is stale: run `cargo run -- schema > schemas/playbook.schema.json`"
        );
    }

    #[test]
    fn schema_keys_are_the_decoder_keys() {
        let schema: serde_json::Value = serde_json::from_str(&json_schema()).expect("valid JSON");
        let step = &schema["definitions"]["RawStep"]["properties"];
        let keys: Vec<&str> = step
            .as_object()
            .expect("properties")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, crate::playbook::raw::RawStep::KEYS);
    }
}
