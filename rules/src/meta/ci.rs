//! Continuous integration of Fedora packages, containers and composes (`ci`, and the older
//! `allpackages` topics): fedmsg.meta's CentOS CI processors (centos_ci.py) and ci-messages'
//! `CIMessageV1` (`org.centos.prod.ci.ARTIFACT.EVENT.STATUS`).

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;
use super::py::{py_str, truthy_at};

pub(super) struct Ci;

const CENTOS_CI: &str = "http://ci.centos.org/";

impl Family for Ci {
    fn agent(&self, msg: &Message) -> Option<String> {
        // fedmsg.meta's default: the one user the message names.
        msg.is_fedmsg()
            .then(|| user(msg).map(str::to_owned))
            .flatten()
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        if msg.is_fedmsg() {
            out.extend(user(msg));
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            fedmsg_subtitle(msg)
        } else {
            ci_message_summary(msg)
        }
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if !msg.is_fedmsg() {
            return ci_message_url(msg);
        }
        match msg.get(&["build_url"]) {
            Some(v) => v.as_str().map(str::to_owned),
            None => Some(CENTOS_CI.to_owned()),
        }
    }
}

/// The pipeline's user, when it names one.
fn user<'m>(msg: &'m Message) -> Option<&'m str> {
    msg.get(&["username"])
        .filter(|u| truthy_at(Some(u)))
        .and_then(Value::as_str)
}

// fedmsg era: fedmsg.meta's AtomicCiProcessor and its allpackages/container variants.

/// `template` with each `{name}` replaced once by its value, as Python's `str.format`.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let key = &after[..close];
                match values.iter().find(|(k, _)| *k == key) {
                    Some((_, v)) => out.push_str(v),
                    None => out.push_str(&rest[open..open + close + 2]),
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// What each stage says, after the pipeline's name in the topic; whether it reports a verdict.
const STAGES: &[(&str, &str, bool)] = &[
    (
        "package.ignore",
        "{revtype} \"{rev}\" of package {ns}/{pkg} is being ignored by the {pipeline_name} pipeline on branch {branch}",
        false,
    ),
    (
        "complete",
        "{revtype} \"{rev}\" of package {ns}/{pkg} {status} the {pipeline_name} pipeline on branch {branch}",
        true,
    ),
    (
        "package.complete",
        "{revtype} {rev} of package {ns}/{pkg} {status} building in the {pipeline_name} pipeline on branch {branch}",
        true,
    ),
    (
        "package.queued",
        "{revtype} {rev} of package {ns}/{pkg} is queued to be built in the {pipeline_name} pipeline on branch {branch}",
        false,
    ),
    (
        "package.running",
        "{revtype} {rev} of package {ns}/{pkg} is being built in the {pipeline_name} pipeline on branch {branch}",
        false,
    ),
    (
        "package.test.functional.complete",
        "{revtype} {rev} of package {ns}/{pkg} {status} its functional tests in the {pipeline_name} pipeline on branch {branch}",
        true,
    ),
    (
        "package.test.functional.queued",
        "{revtype} {rev} of package {ns}/{pkg} is queued for functional testing in the {pipeline_name} pipeline on branch {branch}",
        false,
    ),
    (
        "package.test.functional.running",
        "{revtype} {rev} of package {ns}/{pkg} is running its functional tests in the {pipeline_name} pipeline on branch {branch}",
        false,
    ),
    (
        "container.test.functional.complete",
        "{revtype} {rev} of container {ns}/{pkg} {status} its functional tests in the {pipeline_name} pipeline on branch {branch}",
        true,
    ),
    (
        "container.test.functional.queued",
        "{revtype} {rev} of container {ns}/{pkg} is queued for functional testing in the {pipeline_name} pipeline on branch {branch}",
        false,
    ),
    (
        "container.test.functional.running",
        "{revtype} {rev} of container {ns}/{pkg} is running its functional tests in the {pipeline_name} pipeline on branch {branch}",
        false,
    ),
    (
        "compose.complete",
        "{revtype} {rev} of package {ns}/{pkg} {status} a compose in the {pipeline_name} pipeline on branch {branch}",
        true,
    ),
    (
        "compose.queued",
        "{revtype} {rev} of package {ns}/{pkg} is queued for a compose in the {pipeline_name} pipeline on branch {branch}",
        false,
    ),
    (
        "compose.running",
        "{revtype} {rev} of package {ns}/{pkg} is being part of a compose in the {pipeline_name} pipeline on branch {branch}",
        false,
    ),
    (
        "compose.test.integration.complete",
        "{revtype} {rev} of package {ns}/{pkg} {status} its tests as part of a compose in the {pipeline_name} pipeline on branch {branch}",
        true,
    ),
    (
        "compose.test.integration.queued",
        "{revtype} {rev} of package {ns}/{pkg} is queued for tests as part of a compose in the {pipeline_name} pipeline on branch {branch}",
        false,
    ),
    (
        "compose.test.integration.running",
        "{revtype} {rev} of package {ns}/{pkg} is being tested as part of a compose in the {pipeline_name} pipeline on branch {branch}",
        false,
    ),
    (
        "image.complete",
        "{revtype} {rev} of package {ns}/{pkg} {status} being built in an image in the {pipeline_name} pipeline on branch {branch}",
        true,
    ),
    (
        "image.queued",
        "{revtype} {rev} of package {ns}/{pkg} is queued to be built in an image in the {pipeline_name} pipeline on branch {branch}",
        false,
    ),
    (
        "image.running",
        "{revtype} {rev} of package {ns}/{pkg} is being built in an image in the {pipeline_name} pipeline on branch {branch}",
        false,
    ),
    (
        "image.test.smoke.complete",
        "{revtype} {rev} of package {ns}/{pkg} {status} its tests in an image in the {pipeline_name} pipeline on branch {branch}",
        true,
    ),
    (
        "image.test.smoke.queued",
        "{revtype} {rev} of package {ns}/{pkg} is queued to be tested in an image in the {pipeline_name} pipeline on branch {branch}",
        false,
    ),
    (
        "image.test.smoke.running",
        "{revtype} {rev} of package {ns}/{pkg} is being tested in an image in the {pipeline_name} pipeline on branch {branch}",
        false,
    ),
];

/// The processor's name and pipeline as the topic refines them.
fn pipeline(topic: &str) -> Option<(String, &'static str)> {
    let (name, pipeline) = if topic.contains("allpackages.pipeline") {
        ("allpackages.pipeline", "All Packages CI")
    } else if topic.contains("container.pipeline") && !topic.contains("ci.pipeline") {
        ("container.pipeline", "Container CI")
    } else if topic.contains("ci.pipeline") {
        ("ci.pipeline", "Atomic CI")
    } else {
        return None;
    };
    let has = |s: &str| topic.contains(&format!("{name}.{s}"));
    Some(if has("allpackages-build") {
        (
            "ci.pipeline.allpackages-build".to_owned(),
            "All Packages (Build) CI",
        )
    } else if has("allpackages-pr") {
        (
            "ci.pipeline.allpackages-pr".to_owned(),
            "All Packages (PR) CI",
        )
    } else if has("allpackages") {
        ("ci.pipeline.allpackages".to_owned(), "All Packages CI")
    } else if has("container") {
        ("ci.pipeline.container-pr".to_owned(), "Container CI")
    } else {
        (name.to_owned(), pipeline)
    })
}

/// A verdict in words: passed, was aborted on, errored, failed.
fn verdict(status: &str) -> &'static str {
    match status.to_lowercase().as_str() {
        "success" => "passed",
        "aborted" => "was aborted on",
        "unstable" => "errored",
        _ => "failed",
    }
}

/// A field or its placeholder, as `msg[key] or "unknown_..."`.
fn or_unknown(msg: &Message, key: &str, unknown: &str) -> Option<String> {
    let v = msg.get(&[key])?;
    Some(if truthy_at(Some(v)) {
        py_str(v)
    } else {
        unknown.to_owned()
    })
}

fn fedmsg_subtitle(msg: &Message) -> Option<String> {
    let rev = match msg.get(&["rev"])? {
        v if !truthy_at(Some(v)) => "",
        Value::String(s) => s.as_str(),
        _ => return None,
    };
    let (revtype, rev) = if rev.starts_with("kojitask-") {
        ("Koji task", rev.split("kojitask-").nth(1)?.to_owned())
    } else if rev.starts_with("PR-") {
        ("Pull request", rev.split("PR-").nth(1)?.to_owned())
    } else {
        ("Commit", rev.chars().take(8).collect())
    };
    let branch = or_unknown(msg, "branch", "unknown_branch")?;
    let pkg = or_unknown(msg, "repo", "unknown_repo")?;
    let ns = or_unknown(msg, "namespace", "unknown_namespace")?;
    let status = or_unknown(msg, "status", "unknown_status")?;
    let topic = msg.topic();
    let (name, pipeline_name) = pipeline(topic)?;
    let (template, judged) = STAGES
        .iter()
        .find(|(stage, _, _)| topic.contains(&format!("{name}.{stage}")))
        .map(|(_, t, j)| (*t, *j))?;
    let status = if judged {
        verdict(&status).to_owned()
    } else {
        status
    };
    let mut template = template.to_owned();
    if template.starts_with("{revtype} \"{rev}\" of package {ns}/{pkg} {status} the")
        && pipeline_name == "Container CI"
    {
        template = template.replacen("of package", "of container", 1);
    }
    Some(fill(
        &template,
        &[
            ("revtype", revtype),
            ("rev", &rev),
            ("ns", &ns),
            ("pkg", &pkg),
            ("branch", &branch),
            ("status", &status),
            ("pipeline_name", pipeline_name),
        ],
    ))
}

// fedora-messaging era: ci-messages' CIMessageV1.

/// The artifact, event and status the topic ends with.
fn artifact_event_status<'m>(msg: &'m Message) -> Option<[&'m str; 3]> {
    let parts: Vec<&str> = msg.topic().rsplitn(4, '.').take(3).collect();
    match parts.as_slice() {
        [status, event, artifact] => Some([artifact, event, status]),
        _ => None,
    }
}

/// The artifact's most useful identifier: its descriptor, NVR, update alias or id.
fn artifact_id(msg: &Message) -> Option<String> {
    let artifact = match msg.get(&["artifact"]) {
        None => return Some("<unknown>".to_owned()),
        Some(Value::Object(a)) => a,
        Some(_) => return None,
    };
    Some(
        ["descriptor", "nvr", "alias", "id"]
            .iter()
            .filter_map(|k| artifact.get(*k))
            .find(|v| truthy_at(Some(v)))
            .map_or_else(|| "<unknown>".to_owned(), py_str),
    )
}

fn ci_message_summary(msg: &Message) -> Option<String> {
    let [artifact, event, status] = artifact_event_status(msg)?;
    let mut event = event.to_owned();
    if event == "promote" {
        event = "promotion".to_owned();
    }
    if event == "test" {
        let kind = match msg.get(&["test"]) {
            None => None,
            Some(Value::Object(t)) => t.get("type"),
            Some(_) => return None,
        };
        if truthy_at(kind) {
            event = format!("{} test", kind.map(py_str).unwrap_or_default());
        }
    }
    let status = match status {
        "queued" => "was queued",
        "running" => "started",
        "complete" => "finished",
        "error" => "failed",
        _ => "None",
    };
    Some(format!(
        "CI: {event} of {artifact} {} {status}",
        artifact_id(msg)?
    ))
}

/// The run's page, else the artifact's.
fn ci_message_url(msg: &Message) -> Option<String> {
    let url = |key: &str| match msg.get(&[key]) {
        None => Some(None),
        Some(Value::Object(o)) => Some(o.get("url").filter(|u| truthy_at(Some(u)))),
        Some(_) => None,
    };
    let found = url("run")?.or(url("artifact")?)?;
    found.as_str().map(str::to_owned)
}
