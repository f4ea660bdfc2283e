//! Data the host holds, that rules keyed `via` a relation consult: package ownership, group
//! membership.
//!
//! A rule declared `#[rule(key(extractor = "packages", arg = "fasnick", via = "owners"))]` is
//! answered by the worker from its own copy of the relation, without calling the module. The
//! rule's function still defines it, for native tests and documentation, and reads the
//! relation through [`related`]: natively, tests fill it with [`set_relation`]; inside wasm it
//! is empty.

use std::cell::RefCell;
use std::collections::HashMap;

thread_local! {
    static RELATIONS: RefCell<HashMap<String, HashMap<String, Vec<String>>>> = RefCell::new(HashMap::new());
}

/// What `relation` maps `key` to (e.g. `owners` of a package), as far as this thread knows.
pub fn related(relation: &str, key: &str) -> Vec<String> {
    RELATIONS.with(|r| {
        r.borrow()
            .get(relation)
            .and_then(|m| m.get(key))
            .cloned()
            .unwrap_or_default()
    })
}

/// Sets `relation` for this thread: for native tests of rules keyed `via` it.
pub fn set_relation(relation: &str, map: HashMap<String, Vec<String>>) {
    RELATIONS.with(|r| {
        r.borrow_mut().insert(relation.to_owned(), map);
    });
}
