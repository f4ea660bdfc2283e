//! Bodhi, the updates system.

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;
use crate::util::{ellipsize, mentions, nvr_name, title_nvrs, user_name};

pub struct Bodhi;

const BODHI: &str = "https://bodhi.fedoraproject.org";

fn update<'m>(msg: &'m Message) -> Option<&'m Value> {
    msg.get(&["update"])
}

/// The update's builds, newest schema first: `builds[].nvr`, else the old comma-separated title.
fn update_nvrs(update: &Value) -> Vec<&str> {
    let builds: Vec<&str> = update
        .get("builds")
        .and_then(Value::as_array)
        .map(|b| b.iter().filter_map(|b| b.get("nvr")?.as_str()).collect())
        .unwrap_or_default();
    if !builds.is_empty() {
        return builds;
    }
    update
        .get("title")
        .and_then(Value::as_str)
        .map(|t| title_nvrs(t).collect())
        .unwrap_or_default()
}

fn update_user(update: &Value) -> Option<&str> {
    user_name(update.get("user")).or_else(|| user_name(update.get("submitter")))
}

fn update_title(update: &Value) -> String {
    let nvrs = update_nvrs(update);
    if nvrs.is_empty() {
        return update
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or("an update")
            .to_owned();
    }
    ellipsize(&nvrs.join(" "), 40)
}

fn override_nvr<'m>(msg: &'m Message) -> Option<&'m str> {
    msg.str_at(&["override", "nvr"])
        .or_else(|| msg.str_at(&["override", "build"]))
        .or_else(|| msg.str_at(&["override", "build", "nvr"]))
}

impl Family for Bodhi {
    fn usernames(&self, msg: &Message, out: &mut Keys) {
        if let Some(name) = update(msg).and_then(update_user) {
            out.insert(name);
        }
        if let Some(c) = msg.get(&["comment"]) {
            if let Some(a) = user_name(c.get("user")).or_else(|| user_name(c.get("author"))) {
                out.insert(a);
            }
            if let Some(text) = c.get("text").and_then(Value::as_str) {
                out.extend(mentions(text));
            }
        }
        if let Some(s) = user_name(msg.get(&["override", "submitter"])) {
            out.insert(s);
        }
        if let Some(users) = msg.get(&["stack", "users"]).and_then(Value::as_array) {
            out.extend(users.iter().filter_map(|u| user_name(Some(u))));
        }
    }

    fn packages(&self, msg: &Message, out: &mut Keys) {
        if let Some(u) = update(msg) {
            out.extend(update_nvrs(u).into_iter().filter_map(nvr_name));
        }
        if let Some(t) = msg.str_at(&["comment", "update_title"]) {
            out.extend(title_nvrs(t).filter_map(nvr_name));
        }
        if let Some(nvr) = override_nvr(msg) {
            out.extend(nvr_name(nvr));
        }
        if let Some(pkgs) = msg.get(&["stack", "packages"]).and_then(Value::as_array) {
            out.extend(pkgs.iter().filter_map(|p| p.get("name")?.as_str()));
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let sub = msg.subtopic();
        let agent = user_name(msg.get(&["agent"]));
        if sub == "update.comment" {
            let c = msg.get(&["comment"])?;
            let who = user_name(c.get("user")).or_else(|| user_name(c.get("author")))?;
            let title = msg
                .str_at(&["comment", "update_title"])
                .map(str::to_owned)
                .or_else(|| update(msg).map(update_title))?;
            let karma = c.get("karma").and_then(Value::as_i64).unwrap_or(0);
            return Some(format!(
                "{who} commented on bodhi update {title} (karma: {karma})"
            ));
        }
        if let Some(target) = sub.strip_prefix("update.request.") {
            let u = update(msg)?;
            return Some(format!(
                "{} submitted {} to {target}",
                agent?,
                update_title(u)
            ));
        }
        if let Some(target) = sub.strip_prefix("update.complete.") {
            let u = update(msg)?;
            let who = update_user(u).unwrap_or("someone");
            return Some(format!(
                "{who}'s {} bodhi update completed push to {target}",
                update_title(u)
            ));
        }
        match sub {
            "buildroot_override.tag" | "buildroot_override.untag" => {
                let who = user_name(msg.get(&["override", "submitter"]))?;
                let verb = if sub.ends_with(".tag") {
                    "submitted"
                } else {
                    "expired"
                };
                Some(format!(
                    "{who} {verb} a buildroot override for {}",
                    override_nvr(msg)?
                ))
            }
            "errata.publish" => msg.str_at(&["subject"]).map(str::to_owned),
            _ => None,
        }
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if let Some(nvr) = override_nvr(msg) {
            return Some(format!("{BODHI}/overrides/{nvr}"));
        }
        if let Some(u) = update(msg) {
            let id = u
                .get("alias")
                .or_else(|| u.get("updateid"))
                .and_then(Value::as_str)
                .or_else(|| u.get("title").and_then(Value::as_str))?;
            return Some(format!("{BODHI}/updates/{id}"));
        }
        let title = msg.str_at(&["comment", "update_title"])?;
        Some(format!("{BODHI}/updates/{title}"))
    }
}
