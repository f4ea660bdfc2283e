//! Composes: pungi runs of Rawhide, Branched, releases, EPEL and respins (`compose`).

use fmn_rules_sdk::Message;

use super::Family;

pub struct Compose;

const COMPOSES: &str = "https://kojipkgs.fedoraproject.org/compose/";

/// What part of a compose a topic's step names.
fn step(part: &str) -> Option<&'static str> {
    Some(match part {
        "mash" => "mashing ",
        "pungify" => "building boot.iso for ",
        "image" => "building other images for ",
        "rsync" | "cloudimg-staging" => "master mirror publication for ",
        "mash-atomic" => "Atomic updates mash for ",
        "atomic-lorax" => "Atomic lorax run for ",
        _ => return None,
    })
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The compose's name: `Fedora 18 (arm)`, `Fedora-Cloud 28`, `Fedora-Modular Bikeshed`.
fn name(msg: &Message, release: &str, respin: bool) -> String {
    if release == "epelbeta" {
        return "Fedora EPEL Beta".into();
    }
    let branch = msg.str_at(&["branch"]).unwrap_or(release);
    let (short, version) = match (msg.str_at(&["short"]), branch.strip_prefix("Modular-")) {
        (Some(s), _) => (s.to_owned(), branch.to_owned()),
        (None, Some(v)) => ("Fedora-Modular".to_owned(), v.to_owned()),
        // A release compose before pungi 4 said which of them it was: not which one.
        (None, None)
            if !respin
                && release.chars().all(|c| c.is_ascii_digit())
                && msg.str_at(&["compose_id"]).is_none() =>
        {
            (
                "Fedora, Fedora-Atomic, Fedora-Cloud or Fedora-Docker".to_owned(),
                branch.to_owned(),
            )
        }
        (None, None) => ("Fedora".to_owned(), branch.to_owned()),
    };
    let mut out = format!("{short} {}", capitalized(&version));
    if let Some(arch) = msg.str_at(&["arch"]).filter(|a| !a.is_empty()) {
        out.push_str(&format!(" ({arch})"));
    }
    if respin {
        out.push_str(" post-release Cloud/Atomic/Docker respin");
    }
    out
}

impl Family for Compose {
    fn summary(&self, msg: &Message) -> Option<String> {
        let parts: Vec<&str> = msg.subtopic().split('.').collect();
        let (release, rest) = parts.split_first()?;
        let (event, steps) = rest.split_last()?;
        let verb = match *event {
            "start" => "Started",
            "complete" | "done" | "stop" => "Completed",
            _ => return None,
        };
        let what = match steps {
            [] => "",
            [s] => step(s)?,
            _ => return None,
        };
        let respin = matches!(steps, ["mash-atomic" | "atomic-lorax" | "cloudimg-staging"]);
        let mut out = format!("{verb} {what}{} compose", name(msg, release, respin));
        if let Some(id) = msg.str_at(&["compose_id"]) {
            out.push(' ');
            out.push_str(id);
        }
        Some(out)
    }

    fn link(&self, msg: &Message) -> Option<String> {
        Some(msg.str_at(&["location"]).unwrap_or(COMPOSES).to_owned())
    }
}
