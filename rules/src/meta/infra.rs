//! Fedora's infrastructure reporting on itself: ansible runs, infra git, nagios, jenkins,
//! translations, PDC, release engineering and the tarball scanner (mirrors are in
//! `mirrormanager.rs`).

use super::Family;
use super::py::{py_at, py_str, truthy_at};
use fmn_rules_sdk::{Keys, Message};

pub(super) struct Ansible;
pub(super) struct InfraGit;
pub(super) struct Nagios;
pub(super) struct Jenkins;
pub(super) struct Zanata;
pub(super) struct Pdc;
pub(super) struct Releng;
pub(super) struct Summershum;

const ANSIBLE_CHECKOUT: &str = "/srv/web/infra/ansible/";
const IMG: &str = "https://apps.fedoraproject.org/img/icons/";

// ---- ansible --------------------------------------------------------------------------

/// The playbook as fedmsg.meta shows it: relative to the ansible checkout when it is one of
/// its playbooks (`true`), else its file name.
fn relative_playbook(path: &str) -> (bool, &str) {
    match path.strip_prefix(ANSIBLE_CHECKOUT) {
        Some(rel) => (true, rel),
        None => (false, path.rsplit('/').next().unwrap_or(path)),
    }
}

fn ansible_user<'m>(msg: &'m Message) -> Option<&'m str> {
    msg.str_at(&["userid"]).filter(|u| !u.is_empty())
}

impl Family for Ansible {
    /// fedorainfra-ansible-messages' classes define no `__str__`.
    fn default_str(&self, _msg: &Message) -> bool {
        true
    }

    /// The definitions name their own people, never the envelope's `agent`.
    fn agent_involved(&self, _msg: &Message) -> bool {
        false
    }

    /// fedmsg.meta's agent is the one user it names; the schema's class names none
    /// (it defines `agent`, not `agent_name`).
    fn agent(&self, msg: &Message) -> Option<String> {
        msg.is_fedmsg()
            .then(|| ansible_user(msg).map(str::to_owned))
            .flatten()
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.extend(ansible_user(msg));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let path = msg.str_at(&["playbook"])?;
        let (user, playbook) = if msg.is_fedmsg() {
            // `.get('userid', '(no user specified)')`: only a missing key has no user.
            let user = msg
                .get(&["userid"])
                .map_or_else(|| "(no user specified)".to_owned(), py_str);
            (user, relative_playbook(path).1)
        } else {
            (py_at(msg, &["userid"]), path)
        };
        match msg.subtopic() {
            "playbook.start" => Some(format!("{user} started an ansible run of {playbook}")),
            "playbook.complete" => Some(format!("{user}'s {playbook} playbook run completed")),
            _ => None,
        }
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if !msg.is_fedmsg() {
            return None;
        }
        let (controlled, rel) = relative_playbook(msg.str_at(&["playbook"])?);
        controlled
            .then(|| format!("http://infrastructure.fedoraproject.org/cgit/ansible.git/tree/{rel}"))
    }

    fn icon(&self, _msg: &Message) -> Option<String> {
        Some(format!("{IMG}ansible.png"))
    }

    fn app_name(&self, _msg: &Message) -> Option<String> {
        Some("ansible".to_owned())
    }
}

// ---- infrastructure git ---------------------------------------------------------------

fn infra_repo<'m>(msg: &'m Message) -> Option<&'m str> {
    msg.str_at(&["commit", "path"])?.rsplit('/').next()
}

impl Family for InfraGit {
    /// The definitions name their own people, never the envelope's `agent`.
    fn agent_involved(&self, _msg: &Message) -> bool {
        false
    }

    fn agent(&self, msg: &Message) -> Option<String> {
        msg.get(&["commit", "username"]).map(py_str)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.extend(msg.str_at(&["commit", "username"]));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let mut summary = msg.str_at(&["commit", "summary"])?.to_owned();
        // A commit whose message says more than its summary line is marked as such.
        if summary.trim() != msg.str_at(&["commit", "message"])?.trim() {
            summary.push_str(" (..more)");
        }
        Some(format!(
            "{} pushed a commit to the fedora-infra {} repo ({}):  \"{summary}\"",
            py_at(msg, &["commit", "username"]),
            infra_repo(msg)?,
            py_str(msg.get(&["commit", "branch"])?),
        ))
    }

    fn link(&self, msg: &Message) -> Option<String> {
        let repo = infra_repo(msg)?;
        // The old puppet repository has no public web view.
        if repo == "puppet" {
            return None;
        }
        Some(format!(
            "https://infrastructure.fedoraproject.org/cgit/{repo}.git/commit/?h={}&id={}",
            py_str(msg.get(&["commit", "branch"])?),
            py_str(msg.get(&["commit", "rev"])?)
        ))
    }
}

// ---- nagios ---------------------------------------------------------------------------

/// An acknowledging author as nagios gives it (`https://nick.id.fedoraproject.org/`): the
/// first label of its host.
fn ack_nick(author: &str) -> &str {
    let host = author.rsplit("://").next().unwrap_or(author);
    host.split('.').next().unwrap_or(host)
}

/// Who acknowledged the problem, service first; nothing unless both fields are there
/// (fedmsg.meta reads both).
fn ack_authors<'m>(msg: &'m Message) -> Option<Vec<&'m str>> {
    let mut out = Vec::new();
    for key in ["service_ack_author", "host_ack_author"] {
        let v = msg.get(&[key])?;
        if truthy_at(Some(v)) {
            out.push(ack_nick(v.as_str()?));
        }
    }
    Some(out)
}

impl Family for Nagios {
    /// The definitions name their own people, never the envelope's `agent`.
    fn agent_involved(&self, _msg: &Message) -> bool {
        false
    }

    fn agent(&self, msg: &Message) -> Option<String> {
        ack_authors(msg)?.first().map(|a| (*a).to_owned())
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.extend(ack_authors(msg).unwrap_or_default());
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let state = match msg.get(&["state"])?.as_str() {
            Some("CRITICAL") => "down",
            Some("WARNING") => "having problems",
            Some("OK") => "back up",
            _ => "in an unknown state",
        };
        let host = py_str(msg.get(&["host"])?);
        let sub = msg.subtopic();
        let mut result = if sub.ends_with("host.state.change") {
            format!("{host} is {state}")
        } else if sub.ends_with("service.state.change") {
            let service = msg
                .get(&["service"])
                .map_or_else(|| "some service".to_owned(), py_str);
            format!("{service} is {state} on {host}")
        } else {
            return None;
        };
        if msg.get(&["type"])?.as_str() == Some("ACKNOWLEDGEMENT") {
            let authors = ack_authors(msg)?;
            let agent = authors.first().copied().unwrap_or("somebody");
            result = format!("{agent} acknowledged that {result}");
        }
        if let Some(output) = msg.get(&["output"]) {
            result.push_str(&format!(": \"{}\"", py_str(output)));
        }
        Some(result)
    }

    fn link(&self, msg: &Message) -> Option<String> {
        Some(format!(
            "https://admin.fedoraproject.org/nagios/cgi-bin/status.cgi?navbarsearch=1&host={}",
            msg.str_at(&["host"])?
        ))
    }
}

// ---- jenkins --------------------------------------------------------------------------

impl Family for Jenkins {
    /// The definitions name their own people, never the envelope's `agent`.
    fn agent_involved(&self, _msg: &Message) -> bool {
        false
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let project = py_at(msg, &["project"]);
        let what = match msg.subtopic() {
            "build.failed" => "failed to build",
            "build.passed" => "built successfully",
            "build.unstable" => "built with warnings",
            "build.notbuilt" => "did not build",
            "build.aborted" => "build aborted",
            "build.start" => "started building",
            "build.unknown" => "entered an unknown state",
            _ => return None,
        };
        Some(format!("Jenkins project '{project}' {what}"))
    }

    fn link(&self, msg: &Message) -> Option<String> {
        let build = msg.get(&["build"]).filter(|v| !v.is_null())?;
        let project = msg.get(&["project"]).filter(|v| !v.is_null())?;
        Some(format!(
            "http://jenkins.cloud.fedoraproject.org/job/{}/{}/",
            py_str(project),
            py_str(build)
        ))
    }

    fn icon(&self, _msg: &Message) -> Option<String> {
        Some("https://wiki.jenkins-ci.org/download/attachments/2916393/logo.png?version=1".into())
    }
}

// ---- zanata ---------------------------------------------------------------------------

impl Family for Zanata {
    /// The definitions name their own people, never the envelope's `agent`.
    fn agent_involved(&self, _msg: &Message) -> bool {
        false
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let v = |k: &str| msg.get(&[k]).map(py_str);
        // fedmsg.meta lowercases the whole sentence, not only the milestone.
        Some(
            format!(
                "{} from the {} project is now {} in the '{}' locale",
                v("docId")?,
                v("project")?,
                v("milestone")?,
                v("locale")?
            )
            .to_lowercase(),
        )
    }

    fn link(&self, msg: &Message) -> Option<String> {
        Some(format!(
            "https://fedora.zanata.org/iteration/view/{}/{}/languages/{}",
            msg.str_at(&["project"])?,
            msg.str_at(&["version"])?,
            msg.str_at(&["locale"])?
        ))
    }
}

// ---- PDC ------------------------------------------------------------------------------

impl Family for Pdc {
    /// The definitions name their own people, never the envelope's `agent`.
    fn agent_involved(&self, _msg: &Message) -> bool {
        false
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let v = |k: &str| msg.get(&[k]).map(py_str);
        let topic = msg.topic();
        if topic.ends_with(".pdc.rpms") || topic.ends_with(".pdc.images") {
            Some(format!(
                "PDC imported metadata for {} {} for the {} {} compose",
                v("count")?,
                v("attribute")?,
                v("compose_id")?,
                v("compose_type")?
            ))
        } else if topic.ends_with(".pdc.compose") {
            Some(format!(
                "An entry for the {} {} compose was created in the Product Definition Center",
                v("compose_id")?,
                v("compose_type")?
            ))
        } else {
            msg.body()
                .is_object()
                .then(|| "Unhandled PDC message...".to_owned())
        }
    }

    fn link(&self, msg: &Message) -> Option<String> {
        Some(format!(
            "https://pdc.fedoraproject.org/rest_api/v1/composes/{}/",
            py_str(msg.get(&["compose_id"])?)
        ))
    }
}

// ---- release engineering --------------------------------------------------------------

/// The release a two-week Atomic message is about: its x86_64 image's, or its own.
fn atomic_release(msg: &Message) -> Option<String> {
    let raw = if msg.get(&["x86_64"]).is_some() {
        msg.get(&["x86_64", "atomic_raw"])?
    } else {
        msg.get(&["atomic_raw"])?
    };
    Some(
        raw.as_object()?
            .get("release")
            .map_or_else(String::new, py_str),
    )
}

impl Family for Releng {
    /// The definitions name their own people, never the envelope's `agent`.
    fn agent_involved(&self, _msg: &Message) -> bool {
        false
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let release = atomic_release(msg)?;
        let topic = msg.topic();
        if topic.ends_with(".releng.atomic.twoweek.begin") {
            Some(format!(
                "Release engineering scripts started evaluating a new set of builds for a \
                 Fedora {release} Atomic Host release"
            ))
        } else if topic.ends_with(".releng.atomic.twoweek.complete") {
            Some(format!(
                "A new release of Fedora {release} Atomic Host is ready"
            ))
        } else {
            None
        }
    }

    fn link(&self, _msg: &Message) -> Option<String> {
        Some("https://download.fedoraproject.org/pub/alt/atomic/stable/".to_owned())
    }
}

// ---- summershum -----------------------------------------------------------------------

impl Family for Summershum {
    /// The definitions name their own people, never the envelope's `agent`.
    fn agent_involved(&self, _msg: &Message) -> bool {
        false
    }

    fn agent(&self, msg: &Message) -> Option<String> {
        msg.get(&["original", "agent"]).map(py_str)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.extend(msg.str_at(&["original", "agent"]));
    }

    fn packages(&self, msg: &Message, out: &mut Keys) {
        out.extend(msg.str_at(&["original", "name"]));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let original = msg.get(&["original"])?.as_object()?;
        let topic = msg.topic();
        if !(topic.ends_with("fail") || topic.ends_with("complete") || topic.ends_with("start")) {
            return Some("(unhandled)".to_owned());
        }
        let file = py_str(original.get("filename")?);
        let name = py_str(original.get("name")?);
        Some(if topic.ends_with("fail") {
            format!("yikes!  summershum failed to process {file} for {name}")
        } else if topic.ends_with("complete") {
            format!("summershum ingested {file} for {name}")
        } else {
            format!("summershum started working on {file} for {name}")
        })
    }

    fn link(&self, msg: &Message) -> Option<String> {
        let o = msg.get(&["original"])?;
        let path = match o.get("path") {
            Some(path) => py_str(path),
            None => {
                let file = py_str(o.get("filename")?);
                format!(
                    "{}/{file}/{}/{file}",
                    py_str(o.get("name")?),
                    py_str(o.get("md5sum")?)
                )
            }
        };
        Some(format!(
            "http://pkgs.fedoraproject.org/lookaside/pkgs/{path}"
        ))
    }
}
