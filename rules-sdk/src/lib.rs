//! Write fmn rule modules in plain Rust.
//!
//! A rule module is a crate of **rules** (predicates on a bus message, with typed arguments)
//! and **extractors** (what a message is about: usernames, packages, a summary, a link). The
//! same crate compiles natively, so you test it with `cargo test`, and to
//! `wasm32-unknown-unknown`, which is what fmn workers load, sandboxed, and hot-reload.
//!
//! ```
//! use fmn_rules_sdk::{Args, Keys, Message, extractor, module, rule};
//! use serde::Deserialize;
//!
//! /// Arguments of `package_is`.
//! #[derive(Deserialize, Args)]
//! pub struct PackageArgs {
//!     /// The package's name.
//!     pub package: String,
//! }
//!
//! /// Koji builds that failed.
//! #[rule(topics = ["*.buildsys.build.state.change"])]
//! fn koji_build_failed(msg: &Message) -> bool {
//!     msg.get(&["new"]).and_then(|v| v.as_i64()) == Some(3)
//! }
//!
//! /// Packages named in a koji message.
//! #[extractor]
//! fn packages(msg: &Message) -> Keys {
//!     msg.str_at(&["name"]).into_iter().collect()
//! }
//!
//! /// Messages about the package `package`: answered by the host from the `packages` index.
//! #[rule(key(extractor = "packages", arg = "package"))]
//! fn package_is(msg: &Message, args: &PackageArgs) -> bool {
//!     packages(msg).contains(&args.package)
//! }
//!
//! module! {
//!     name: "example",
//!     doc: "An example module.",
//!     rules: [koji_build_failed, package_is],
//!     extractors: [packages],
//! }
//!
//! # fn main() {
//! let failed = r#"{"topic": "org.fedoraproject.prod.buildsys.build.state.change",
//!                  "msg": {"name": "nethack", "new": 3}, "msg_id": "1"}"#;
//! use fmn_rules_sdk::testing::check;
//! use serde_json::json;
//! assert_eq!(check(&MODULE, "koji_build_failed", json!({}), failed), Ok(true));
//! assert_eq!(check(&MODULE, "package_is", json!({"package": "nethack"}), failed), Ok(true));
//! assert_eq!(check(&MODULE, "package_is", json!({"package": "vim"}), failed), Ok(false));
//! # }
//! ```
//!
//! - [`rule`]: `fn(&Message) -> bool`, or `fn(&Message, &A) -> bool` where `A` derives
//!   [`Args`] and `Deserialize`; `Result<bool, E>` works too, and an `Err` is reported with the
//!   rule's name. Arguments are decoded once, when the host registers the rule, not per
//!   message. `topics = [...]` promises the rule never matches outside those topic globs, so
//!   the host skips it there. `key(extractor = "...", arg = "...")` promises the rule matches
//!   exactly when that argument is among the extractor's keys, so the host answers it with a
//!   hash lookup whatever the number of users (the function still defines it, and is what
//!   native tests and `fmn rules test` run).
//! - [`extractor`]: `fn(&Message) -> Keys` or `fn(&Message) -> Option<String>`.
//! - [`module!`](module): names the module and lists its rules and extractors; on wasm it
//!   also emits the exports the host calls (see [`abi`]).
//!
//! A panic inside a rule becomes a trap in wasm (and is caught natively): the host reports it
//! with the module, the rule and the panic message, treats that module's rules as not matching
//! for that message, and carries on.
//!
//! The guide in `docs/rules-sdk.md` walks from a new crate to a hot-reloaded module.

pub mod abi;
mod args;
pub mod data;
pub mod describe;
pub mod glob;
mod message;
mod module;
pub mod people;

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod guest;

#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use abi::Extracted;
pub use args::{ArgField, Args, NoArgs};
pub use describe::{ExtractorKind, ModuleDescription};
pub use message::{Message, MessageError, lookup, topic_parts};
pub use module::{
    ExtractorDef, IntoExtracted, IntoVerdict, KeySpec, Keys, ModuleDef, ModuleState, Prepared,
    RuleDef, Sample,
};

/// Declares a rule. See the [crate documentation](crate).
pub use fmn_rules_sdk_macros::rule;

/// Declares an extractor. See the [crate documentation](crate).
pub use fmn_rules_sdk_macros::extractor;

/// Declares the crate's module: `name`, optional `version` and `doc` (default: the crate's),
/// `rules: [...]` and `extractors: [...]`. Defines `pub static MODULE: ModuleDef`.
pub use fmn_rules_sdk_macros::module;

/// `&[RuleDef]` of `#[rule]` functions, for a family's table: `pub const RULES: &[RuleDef] =
/// rules![koji_instance, koji_build_failed];`, listed in `module!` as `..family::RULES`.
pub use fmn_rules_sdk_macros::rules;

/// Derives [`Args`] for a struct with named fields: each field's name (honouring
/// `#[serde(rename)]`), type, doc comment, and whether it is required (not an `Option`, no
/// `#[serde(default)]`).
pub use fmn_rules_sdk_macros::Args;

/// A table of rules that are exactly a topic test, answered by the worker from the topic alone
/// (the module is not called for them):
///
/// ```
/// fmn_rules_sdk::topic_rules! {
///     /// Koji's rules answered from the topic.
///     pub const KOJI: {
///         /// Koji: a package has been tagged
///         koji_tag => ["*buildsys.tag"],
///         /// Koji: a repo was rebuilt
///         koji_repo_done => ["*buildsys.repo.done"],
///     }
/// }
/// assert_eq!(KOJI[1].name, "koji_repo_done");
/// ```
///
/// List the table in `module!` as `..KOJI`. Globs are matched as in [`glob::matches`].
#[macro_export]
macro_rules! topic_rules {
    ($(#[$attr:meta])* $vis:vis const $table:ident : { $( $(#[doc = $doc:literal])* $name:ident => [$($glob:literal),+ $(,)?] ),* $(,)? }) => {
        $(#[$attr])*
        $vis const $table: &[$crate::RuleDef] = &[ $( $crate::RuleDef {
            name: ::core::stringify!($name),
            doc: ::core::concat!($($doc, "\n"),*),
            topics: &[$($glob),+],
            exact: true,
            key: ::core::option::Option::None,
            args: &[],
            prepare: $crate::__private::prepare::<$crate::NoArgs>,
            eval: {
                fn thunk(
                    msg: &$crate::Message<'_>,
                    _: &(dyn ::core::any::Any + ::core::marker::Send + ::core::marker::Sync),
                ) -> ::core::result::Result<bool, ::std::string::String> {
                    ::core::result::Result::Ok($crate::glob::any_matches(&[$($glob),+], msg.topic()))
                }
                thunk
            },
        } ),* ];
    };
}

/// Emits the wasm exports for a module static; `module!` calls it.
#[macro_export]
#[doc(hidden)]
macro_rules! export_guest {
    ($module:path) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            #[unsafe(no_mangle)]
            pub extern "C" fn fmn_abi_version() -> i32 {
                $crate::guest::abi_version()
            }
            #[unsafe(no_mangle)]
            pub extern "C" fn fmn_state() -> i32 {
                $crate::guest::state()
            }
            #[unsafe(no_mangle)]
            pub extern "C" fn fmn_input(len: i32) -> i32 {
                $crate::guest::input(len)
            }
            #[unsafe(no_mangle)]
            pub extern "C" fn fmn_describe() -> i64 {
                $crate::guest::describe(&$module)
            }
            #[unsafe(no_mangle)]
            pub extern "C" fn fmn_register(rule: i32, args_len: i32) -> i64 {
                $crate::guest::register(&$module, rule, args_len)
            }
            #[unsafe(no_mangle)]
            pub extern "C" fn fmn_unregister(handle: i32) -> i32 {
                $crate::guest::unregister(&$module, handle)
            }
            #[unsafe(no_mangle)]
            pub extern "C" fn fmn_eval(len: i32) -> i64 {
                $crate::guest::eval(&$module, len)
            }
            #[unsafe(no_mangle)]
            pub extern "C" fn fmn_error() -> i64 {
                $crate::guest::error()
            }
        };
    };
}

/// What the macros expand to; not part of the API.
#[doc(hidden)]
pub mod __private {
    use std::any::Any;

    use crate::args::{ArgField, Args};
    use crate::module::Prepared;

    /// Checks the argument names against the schema, then decodes them.
    pub fn prepare<A: Args>(raw: &[u8]) -> Result<Prepared, String> {
        let v: serde_json::Value = serde_json::from_slice(raw)
            .map_err(|e| format!("arguments are not valid JSON: {e}"))?;
        let Some(obj) = v.as_object() else {
            return Err(format!("arguments must be an object, found {v}"));
        };
        let unknown: Vec<&str> = obj
            .keys()
            .map(String::as_str)
            .filter(|k| !A::SCHEMA.iter().any(|f| f.name == *k))
            .collect();
        if !unknown.is_empty() {
            let takes = if A::SCHEMA.is_empty() {
                "this rule takes no arguments".to_owned()
            } else {
                let names: Vec<&str> = A::SCHEMA.iter().map(|f| f.name).collect();
                format!("this rule takes: {}", names.join(", "))
            };
            return Err(format!(
                "unknown argument(s) {} ({takes})",
                unknown.join(", ")
            ));
        }
        let a: A = serde_json::from_value(v).map_err(|e| e.to_string())?;
        Ok(Box::new(a))
    }

    /// The prepared arguments as `A`.
    pub fn args_of<A: 'static>(p: &(dyn Any + Send + Sync)) -> Result<&A, String> {
        p.downcast_ref::<A>()
            .ok_or_else(|| "internal error: arguments prepared for another rule".to_owned())
    }

    /// Whether the schema has a field called `name`; a `const fn` so `#[rule(key(...))]` can
    /// check its argument at compile time.
    pub const fn has_field(schema: &[ArgField], name: &str) -> bool {
        let mut i = 0;
        while i < schema.len() {
            if const_eq(schema[i].name, name) {
                return true;
            }
            i += 1;
        }
        false
    }

    const fn const_eq(a: &str, b: &str) -> bool {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        let mut i = 0;
        while i < a.len() {
            if a[i] != b[i] {
                return false;
            }
            i += 1;
        }
        true
    }
}
