//! The CentOS CI pipelines that tested Fedora packages, containers and composes (`ci`, and the
//! older `allpackages` topics).

use fmn_rules_sdk::{Keys, Message};

use super::Family;

pub struct Ci;

/// The pipeline a topic names, and the rest of the topic after it.
fn pipeline<'m>(msg: &'m Message) -> Option<(&'static str, Vec<&'m str>)> {
    let parts: Vec<&str> = msg.subtopic().split('.').collect();
    let (name, rest) = match (msg.category(), parts.as_slice()) {
        ("ci", ["pipeline", kind, rest @ ..]) => (*kind, rest.to_vec()),
        ("allpackages", ["pipeline", rest @ ..]) => ("allpackages", rest.to_vec()),
        _ => return None,
    };
    let label = match name {
        "allpackages" => "All Packages",
        "allpackages-pr" => "All Packages (PR)",
        "allpackages-build" => "All Packages (Build)",
        "container-pr" | "container" => "Container",
        // compose, image and package stages at the top level: the Atomic pipeline.
        _ => {
            let mut all = vec![name];
            all.extend(rest);
            return Some(("Atomic", all));
        }
    };
    Some((label, rest))
}

fn failed(msg: &Message) -> bool {
    let s = |k| msg.str_at(&[k]).unwrap_or_default().to_ascii_lowercase();
    ["status", "CI_STATUS"]
        .iter()
        .any(|k| matches!(s(k).as_str(), "failed" | "failure" | "error" | "unstable"))
}

/// What a stage says, without its subject.
fn stage_phrase(stage: &[&str], failed: bool) -> Option<String> {
    let verdict = if failed { "failed" } else { "passed" };
    Some(match stage {
        ["package" | "container", "running"] => "is being built in the".into(),
        ["package" | "container", "queued"] => "is queued to be built in the".into(),
        ["package" | "container", "complete"] => format!("{verdict} building in the"),
        ["package" | "container", "ignored"] => "is being ignored by the".into(),
        ["image", "running"] => "is being built in an image in the".into(),
        ["image", "queued"] => "is queued to be built in an image in the".into(),
        ["image", "complete"] => format!("{verdict} being built in an image in the"),
        ["image", "test", _, "running"] => "is running its tests in an image in the".into(),
        ["image", "test", _, "queued"] => "is queued for tests in an image in the".into(),
        ["image", "test", _, "complete"] => format!("{verdict} its tests in an image in the"),
        ["package" | "container", "test", "functional", "queued"] => {
            "is queued for functional testing in the".into()
        }
        ["package" | "container", "test", "functional", "running"] => {
            "is running its functional tests in the".into()
        }
        ["package" | "container", "test", "functional", "complete"] => {
            format!("{verdict} its functional tests in the")
        }
        ["compose", "running"] => "is being part of a compose in the".into(),
        ["compose", "queued"] => "is queued to be part of a compose in the".into(),
        ["compose", "complete"] => format!("{verdict} being part of a compose in the"),
        ["compose", "test", _, "queued"] => {
            "is queued for tests as part of a compose in the".into()
        }
        ["compose", "test", _, "running"] => {
            "is running its tests as part of a compose in the".into()
        }
        ["compose", "test", _, "complete"] => {
            format!("{verdict} its tests as part of a compose in the")
        }
        ["complete"] => format!("{verdict} the"),
        _ => return None,
    })
}

impl Family for Ci {
    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.insert_value(msg.get(&["username"]));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let (pipeline, stage) = pipeline(msg)?;
        let phrase = stage_phrase(&stage, failed(msg))?;
        let rev = msg.str_at(&["rev"])?;
        let quote = matches!(stage.as_slice(), ["complete"] | [_, "ignored"]);
        let (what, id) = if let Some(pr) = rev.strip_prefix("PR-") {
            ("Pull request", pr)
        } else if let Some(task) = rev.strip_prefix("kojitask-") {
            ("Koji task", task)
        } else {
            ("Commit", rev.get(..8).unwrap_or(rev))
        };
        let id = if quote {
            format!("\"{id}\"")
        } else {
            id.to_owned()
        };
        let kind = if stage.first() == Some(&"container") {
            "container"
        } else {
            "package"
        };
        let namespace = msg.str_at(&["namespace"]).unwrap_or("unknown_namespace");
        Some(format!(
            "{what} {id} of {kind} {namespace}/{} {phrase} {pipeline} CI pipeline on branch {}",
            msg.str_at(&["repo"])?,
            msg.str_at(&["branch"])?
        ))
    }

    fn link(&self, msg: &Message) -> Option<String> {
        msg.str_at(&["build_url"]).map(str::to_owned)
    }
}
