//! Bodhi, the updates system, in both bus eras: fedmsg's wording was `fedmsg.meta`'s,
//! fedora-messaging's is the `bodhi-messages` schemas'.

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;
use crate::util::{mentions, nvr_name, title_nvrs, user_name};

pub struct Bodhi;

const BODHI: &str = "https://bodhi.fedoraproject.org";

fn update<'m>(msg: &'m Message) -> Option<&'m Value> {
    msg.get(&["update"])
        .or_else(|| msg.get(&["comment", "update"]))
        .filter(|u| u.is_object())
}

fn nvrs_of(builds: Option<&Value>) -> Vec<&str> {
    builds
        .and_then(Value::as_array)
        .map(|b| b.iter().filter_map(|b| b.get("nvr")?.as_str()).collect())
        .unwrap_or_default()
}

/// The update's builds, newest schema first: `builds[].nvr`, else the old comma-separated title.
fn update_nvrs(update: &Value) -> Vec<&str> {
    let builds = nvrs_of(update.get("builds"));
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

/// `text` cut to 40 characters, marked with `cut` when it was cut.
fn cut40(text: &str, cut: &str) -> String {
    if text.chars().count() <= 40 {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(40).collect();
    out.push_str(cut);
    out
}

/// How fedmsg named an update: its title, cut with `...`.
fn fedmsg_title(update: &Value) -> Option<String> {
    let title = match update.get("title").and_then(Value::as_str) {
        Some(t) => t.to_owned(),
        None => update_nvrs(update).join(" "),
    };
    Some(cut40(&title, "..."))
}

/// How the schemas name an update: its builds, cut with `…`.
fn schema_title(nvrs: &[&str]) -> String {
    cut40(&nvrs.join(" "), "…")
}

fn alias(update: &Value) -> Option<&str> {
    update
        .get("alias")
        .or_else(|| update.get("updateid"))
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
}

fn override_nvr<'m>(msg: &'m Message) -> Option<&'m str> {
    msg.str_at(&["override", "nvr"])
        .or_else(|| msg.str_at(&["override", "build"]))
        .or_else(|| msg.str_at(&["override", "build", "nvr"]))
}

fn comment_author<'m>(msg: &'m Message) -> Option<&'m str> {
    let c = msg.get(&["comment"])?;
    user_name(c.get("user")).or_else(|| user_name(c.get("author")))
}

/// Whose update, as the schemas say it: `their` when the agent's own.
fn owner(agent: &str, update: &Value) -> String {
    match update_user(update) {
        Some(u) if u == agent => "their".into(),
        Some(u) => format!("{u}'s"),
        None => "an".into(),
    }
}

/// The schemas' `str()` of an update message: what happened to it, then its builds.
fn schema_long_text(msg: &Message) -> Option<String> {
    let sub = msg.subtopic();
    if sub == "errata.publish" {
        return msg.str_at(&["body"]).map(str::to_owned);
    }
    let u = update(msg)?;
    let builds = update_nvrs(u).join("\n");
    let id = alias(u)?;
    let agent = || user_name(msg.get(&["agent"]));
    let user = update_user(u)?;
    Some(match sub {
        "update.complete.stable" | "update.complete.testing" => format!(
            "{user}'s Bodhi update {id} completed push to {}\nBuilds:\n{builds} ",
            &sub["update.complete.".len()..]
        ),
        "update.karma.threshold.reach" => format!(
            "{user}'s bodhi update {id} has reached the {} karma threshold.\nBuilds:\n{builds}",
            msg.str_at(&["status"])?
        ),
        "update.request.testing" | "update.request.stable" => {
            let agent = agent()?;
            format!(
                "{agent} submitted {} update {id} to {}.\nBuilds:\n{builds}",
                owner(agent, u),
                &sub["update.request.".len()..]
            )
        }
        "update.request.unpush" | "update.request.revoke" | "update.request.obsolete" => {
            let agent = agent()?;
            let verb = match &sub["update.request.".len()..] {
                "unpush" => "unpushed",
                "revoke" => "revoked",
                _ => "obsoleted",
            };
            format!(
                "{agent} {verb} {} update {id}.\nBuilds:\n{builds}",
                owner(agent, u)
            )
        }
        _ => return None,
    })
}

impl Family for Bodhi {
    fn long_text(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            return match msg.subtopic() {
                "update.comment" => msg.str_at(&["comment", "text"]).map(str::to_owned),
                "errata.publish" => msg.str_at(&["body"]).map(str::to_owned),
                _ => None,
            };
        }
        schema_long_text(msg)
    }

    fn agent(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            return None;
        }
        match msg.subtopic() {
            "buildroot_override.tag" | "buildroot_override.untag" => {
                user_name(msg.get(&["override", "submitter"])).map(str::to_owned)
            }
            "errata.publish" => update(msg).and_then(update_user).map(str::to_owned),
            _ => None,
        }
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        if let Some(name) = update(msg).and_then(update_user) {
            out.insert(name);
        }
        if let Some(a) = comment_author(msg) {
            out.insert(a);
        }
        if let Some(text) = msg.str_at(&["comment", "text"]) {
            out.extend(mentions(text));
        }
        if let Some(s) = user_name(msg.get(&["override", "submitter"])) {
            out.insert(s);
        }
        if let Some(users) = msg.get(&["stack", "users"]).and_then(Value::as_array) {
            out.extend(users.iter().filter_map(|u| user_name(Some(u))));
        }
        if let Some(builds) = msg.get(&["artifact", "builds"]).and_then(Value::as_array) {
            out.extend(builds.iter().filter_map(|b| b.get("issuer")?.as_str()));
        }
    }

    fn packages(&self, msg: &Message, out: &mut Keys) {
        if let Some(u) = update(msg) {
            // An old title that is not an NVR (a test's `foo`) names the package itself.
            out.extend(update_nvrs(u).into_iter().map(|n| nvr_name(n).unwrap_or(n)));
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
        out.extend(
            nvrs_of(msg.get(&["artifact", "builds"]))
                .into_iter()
                .filter_map(nvr_name),
        );
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        if let Some(s) = common_summary(msg) {
            return Some(s);
        }
        if msg.is_fedmsg() {
            fedmsg_summary(msg)
        } else {
            schema_summary(msg)
        }
    }

    fn link(&self, msg: &Message) -> Option<String> {
        let sub = msg.subtopic();
        if let Some(nvr) = override_nvr(msg) {
            return Some(format!("{BODHI}/overrides/{nvr}"));
        }
        if let Some(name) = msg.str_at(&["stack", "name"]) {
            return Some(format!("{BODHI}/stacks/{name}"));
        }
        if let Some(repo) = sub
            .strip_prefix("updates.")
            .and_then(|s| s.strip_suffix(".sync"))
        {
            let release = msg.str_at(&["release"])?;
            let testing = msg
                .str_at(&["repo"])
                .is_some_and(|r| r.ends_with("testing"));
            let t = if testing { "testing/" } else { "" };
            return Some(match repo {
                "epel" => format!("https://download.fedoraproject.org/pub/epel/{t}{release}/"),
                _ => format!(
                    "https://download.fedoraproject.org/pub/fedora/linux/updates/{t}{release}/Everything/"
                ),
            });
        }
        if let Some(u) = update(msg) {
            let id = alias(u).or_else(|| u.get("title").and_then(Value::as_str))?;
            return Some(format!("{BODHI}/updates/{id}"));
        }
        if let Some(id) = msg.str_at(&["artifact", "id"]) {
            return Some(format!("{BODHI}/updates/{id}"));
        }
        if let Some(title) = msg.str_at(&["comment", "update_title"]) {
            return Some(format!("{BODHI}/updates/{title}"));
        }
        // The composer's own messages: fedmsg linked them to bodhi; the schemas to nothing.
        msg.is_fedmsg().then(|| BODHI.to_owned())
    }
}

/// What both eras say alike.
fn common_summary(msg: &Message) -> Option<String> {
    let sub = msg.subtopic();
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
        "compose.sync.wait" | "mashtask.sync.wait" | "compose.sync.done" | "mashtask.sync.done" => {
            let who = if sub.starts_with("compose") {
                "composer"
            } else {
                "masher"
            };
            let repo = msg.str_at(&["repo"])?;
            Some(if sub.ends_with("wait") {
                format!("bodhi {who} is waiting for {repo} to hit the master mirror")
            } else {
                format!("bodhi {who} finished waiting for {repo} to hit the master mirror")
            })
        }
        _ => None,
    }
}

fn success(msg: &Message) -> bool {
    msg.get(&["success"]).and_then(Value::as_bool) == Some(true)
}

fn fedmsg_summary(msg: &Message) -> Option<String> {
    let sub = msg.subtopic();
    let agent = user_name(msg.get(&["agent"]));
    if sub == "update.comment" {
        let who = comment_author(msg)?;
        let title = msg
            .str_at(&["comment", "update_title"])
            .map(str::to_owned)
            .or_else(|| update(msg).and_then(|u| u.get("title")?.as_str().map(str::to_owned)))?;
        let karma = msg
            .get(&["comment", "karma"])
            .and_then(Value::as_i64)
            .unwrap_or(0);
        return Some(format!(
            "{who} commented on bodhi update {title} (karma: {karma})"
        ));
    }
    if let Some(target) = sub.strip_prefix("update.request.") {
        let title = fedmsg_title(update(msg)?)?;
        let agent = agent?;
        return Some(match target {
            "obsolete" => format!("{agent} obsoleted {title}"),
            "revoke" => format!("{agent} revoked {title}"),
            "unpush" => format!("{agent} unpushed {title}"),
            _ => format!("{agent} submitted {title} to {target}"),
        });
    }
    if let Some(target) = sub.strip_prefix("update.complete.") {
        let u = update(msg)?;
        let who = update_user(u).unwrap_or("someone");
        return Some(format!(
            "{who}'s {} bodhi update completed push to {target}",
            schema_title(&update_nvrs(u))
        ));
    }
    Some(match sub {
        "update.eject" => {
            let u = update(msg)?;
            format!(
                "{}'s {} bodhi update was ejected from the {} mash.  Reason: \"{}\"",
                update_user(u)?,
                fedmsg_title(u)?,
                msg.str_at(&["repo"])?,
                msg.str_at(&["reason"])?
            )
        }
        "update.karma.threshold" => format!(
            "{} reached the {} karma threshold",
            fedmsg_title(update(msg)?)?,
            msg.str_at(&["status"])?
        ),
        "mashtask.start" => "bodhi masher started a push".into(),
        "mashtask.complete" => {
            let repo = msg.str_at(&["repo"])?;
            if success(msg) {
                format!("bodhi masher successfully mashed {repo}")
            } else {
                format!("bodhi masher failed to mash {repo}")
            }
        }
        "compose.start" => "bodhi composer started a run".into(),
        "compose.composing" => format!(
            "bodhi {} compose of repo {} started",
            msg.str_at(&["ctype"]).unwrap_or("rpm"),
            msg.str_at(&["repo"])?
        ),
        "compose.complete" => format!(
            "bodhi {} compose of repo {} {}",
            msg.str_at(&["ctype"]).unwrap_or("rpm"),
            msg.str_at(&["repo"])?,
            if success(msg) { "succeeded" } else { "failed" }
        ),
        "repo.done" => format!("bodhi repo {} created", msg.str_at(&["repo"])?),
        "masher.start" | "composer.start" => {
            format!("{} requested a mash of some updates", agent?)
        }
        "stack.delete" => format!(
            "{} deleted the \"{}\" stack",
            agent?,
            msg.str_at(&["stack", "name"])?
        ),
        "stack.save" => format!(
            "{} updated the \"{}\" stack",
            agent?,
            msg.str_at(&["stack", "name"])?
        ),
        "updates.fedora.sync" | "updates.epel.sync" => format!(
            "New {} {} {} content synced out ({} changed with {} files deleted)",
            if sub.contains("epel") {
                "EPEL"
            } else {
                "Fedora"
            },
            msg.str_at(&["release"])?,
            msg.str_at(&["repo"])?,
            msg.str_at(&["bytes"])?,
            msg.str_at(&["deleted"])?
        ),
        _ => return None,
    })
}

fn schema_summary(msg: &Message) -> Option<String> {
    let sub = msg.subtopic();
    let agent = user_name(msg.get(&["agent"]));
    if let Some(target) = sub.strip_prefix("update.request.") {
        let u = update(msg)?;
        let agent = agent?;
        let what = format!(
            "{} update {} ({})",
            owner(agent, u),
            alias(u)?,
            schema_title(&update_nvrs(u))
        );
        return Some(match target {
            "obsolete" => format!("{agent} obsoleted {what}"),
            "revoke" => format!("{agent} revoked {what}"),
            "unpush" => format!("{agent} unpushed {what}"),
            _ => format!("{agent} submitted {what} to {target}"),
        });
    }
    if let Some(target) = sub.strip_prefix("update.complete.") {
        let u = update(msg)?;
        return Some(format!(
            "{}'s {} bodhi update completed push to {target}",
            update_user(u)?,
            schema_title(&update_nvrs(u))
        ));
    }
    if sub.starts_with("update.status.testing") {
        let nvrs = match update(msg) {
            Some(u) => update_nvrs(u),
            None => nvrs_of(msg.get(&["artifact", "builds"])),
        };
        let who = msg
            .str_at(&["contact", "name"])
            .or_else(|| update(msg).and_then(update_user))?;
        return Some(format!(
            "{who}'s {} bodhi update is ready for testing",
            schema_title(&nvrs)
        ));
    }
    Some(match sub {
        "update.comment" => {
            let u = update(msg)?;
            format!(
                "{} commented on bodhi update {} (karma: {})",
                comment_author(msg)?,
                schema_title(&update_nvrs(u)),
                msg.get(&["comment", "karma"])
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
            )
        }
        "update.edit" => {
            let u = update(msg)?;
            let agent = agent?;
            format!(
                "{agent} edited {} update {} ({})",
                owner(agent, u),
                alias(u)?,
                schema_title(&update_nvrs(u))
            )
        }
        "update.eject" => {
            let u = update(msg)?;
            format!(
                "{}'s {} bodhi update was ejected from the {} mash. Reason: \"{}\"",
                update_user(u)?,
                schema_title(&update_nvrs(u)),
                msg.str_at(&["repo"])?,
                msg.str_at(&["reason"])?
            )
        }
        "update.karma.threshold.reach" => {
            let u = update(msg)?;
            format!(
                "{}'s {} bodhi update has reached the {} karma threshold",
                update_user(u)?,
                schema_title(&update_nvrs(u)),
                msg.str_at(&["status"])?
            )
        }
        "compose.start" => "bodhi composer started a run".into(),
        "compose.composing" => format!(
            "bodhi composer started composing {}",
            msg.str_at(&["repo"])?
        ),
        "compose.complete" => {
            let repo = msg.str_at(&["repo"])?;
            if success(msg) {
                format!("bodhi composer successfully composed {repo}")
            } else {
                format!("bodhi composer failed to compose {repo}")
            }
        }
        "repo.done" => format!("bodhi repo {} created", msg.str_at(&["repo"])?),
        _ => return None,
    })
}
