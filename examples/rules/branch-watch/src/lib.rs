//! `branch_watch`: git pushes to one branch, optionally only those touching some files.
//!
//! The standard extractors say which packages and people a push is about, not which branch
//! it went to nor which files it changed. This module has extractors of its own for both,
//! and a rule built on them:
//!
//! ```toml
//! { rule = "branch_watch::pushes_to_branch", args = { branch = "f40", files = ["*.spec"] } }
//! ```
//!
//! Combined in one filter with the bundled `fedora::package_filter`, it says "spec changes
//! of my packages on f40".

use fmn_rules_sdk::{Args, Keys, Message, Sample, extractor, glob, module, rule};
use serde::Deserialize;

/// Arguments of `pushes_to_branch`.
#[derive(Deserialize, Args)]
#[serde(deny_unknown_fields)]
pub struct BranchArgs {
    /// The branch, as git names it without `refs/heads/` (`rawhide`, `f40`, `epel9`).
    pub branch: String,
    /// Only pushes changing a file whose path matches one of these globs (`*.spec`); any
    /// push when empty.
    #[serde(default)]
    pub files: Vec<String>,
}

/// The branch a git push went to, without `refs/heads/`: dist-git's fedmsg `git.receive`
/// (`commit.branch`) and Pagure's `git.receive` (`branch`).
#[extractor]
pub fn branch(msg: &Message) -> Option<String> {
    let full = msg
        .str_at(&["commit", "branch"])
        .or_else(|| msg.str_at(&["branch"]))?;
    Some(full.strip_prefix("refs/heads/").unwrap_or(full).to_owned())
}

/// The paths of the files a git push changed, as dist-git's fedmsg messages list them
/// (`commit.stats.files`); Pagure's messages do not list them.
#[extractor]
pub fn changed_files(msg: &Message) -> Keys {
    msg.get(&["commit", "stats", "files"])
        .and_then(|f| f.as_object())
        .map(|files| files.keys().cloned().collect())
        .unwrap_or_default()
}

/// Git pushes to the branch `branch`; with `files`, only those changing a file they match.
#[rule(topics = ["*.git.receive"])]
pub fn pushes_to_branch(msg: &Message, args: &BranchArgs) -> bool {
    if branch(msg).as_deref() != Some(args.branch.as_str()) {
        return false;
    }
    args.files.is_empty()
        || changed_files(msg)
            .iter()
            .any(|path| args.files.iter().any(|g| glob::matches(g, path)))
}

/// A push to valgrind's master branch changing its spec file (from fmn's corpus).
const VALGRIND: &str = r#"{"i": 1, "msg": {"commit": {"branch": "master", "email": "mjw@redhat.com",
  "message": "Clear CFLAGS CXXFLAGS LDFLAGS.\n                This is a bit of a hammer.",
  "name": "Mark Wielaard", "repo": "valgrind", "rev": "7a98f80d9b61ce167e4ef8129c81ed9284ecf4e1",
  "seen": true, "stats": {"files": {"valgrind.spec": {"deletions": 2, "insertions": 1, "lines": 3}},
  "total": {"deletions": 2, "files": 1, "insertions": 1, "lines": 3}},
  "summary": "Clear CFLAGS CXXFLAGS LDFLAGS.", "username": "mjw"}},
  "msg_id": "2012-175b3410-48a7-571d-8f1a-e96208556ac5", "timestamp": 1344350850.886738,
  "topic": "org.fedoraproject.prod.git.receive", "username": null}"#;

/// Messages the rule must (or must not) match; a worker checks them when it loads the module.
pub const SAMPLES: &[Sample] = &[
    Sample {
        rule: "pushes_to_branch",
        args: r#"{"branch": "master", "files": ["*.spec"]}"#,
        message: VALGRIND,
        matches: true,
    },
    Sample {
        rule: "pushes_to_branch",
        args: r#"{"branch": "master", "files": ["*.patch"]}"#,
        message: VALGRIND,
        matches: false,
    },
    Sample {
        rule: "pushes_to_branch",
        args: r#"{"branch": "f40"}"#,
        message: VALGRIND,
        matches: false,
    },
];

module! {
    name: "branch_watch",
    doc: "Git pushes to a branch, by the branch and the files they change.",
    rules: [pushes_to_branch],
    extractors: [branch, changed_files],
    samples: SAMPLES,
}
