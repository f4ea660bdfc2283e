//! Typed rule arguments: a serde struct that also describes its fields.

/// Arguments of a rule: derive it with `#[derive(Deserialize, Args)]` on a struct with named
/// fields; doc comments on the fields become the argument docs.
#[diagnostic::on_unimplemented(
    message = "`{Self}` are not rule arguments",
    label = "not rule arguments",
    note = "derive them: `#[derive(Deserialize, Args)] struct MyArgs {{ package: String }}`"
)]
pub trait Args: serde::de::DeserializeOwned + Send + Sync + 'static {
    /// The fields, for validation and documentation.
    const SCHEMA: &'static [ArgField];
}

/// One field of an [`Args`] struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgField {
    /// The field's name in the arguments object.
    pub name: &'static str,
    /// Its type, in words: `string`, `boolean`, `integer`, `number`, `list of string`.
    pub ty: &'static str,
    /// Its doc comment.
    pub doc: &'static str,
    /// Whether it must be given (no `Option`, no `#[serde(default)]`).
    pub required: bool,
}

/// The arguments of a rule that takes none: `{}`.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

impl Args for NoArgs {
    const SCHEMA: &'static [ArgField] = &[];
}
