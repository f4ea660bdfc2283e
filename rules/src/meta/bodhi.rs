//! Bodhi, the updates system, in both bus eras: fedmsg's wording was `fedmsg.meta`'s
//! (`bodhi.py`, translated here branch by branch), fedora-messaging's is the `bodhi-messages`
//! schemas' (`schema`).
//!
//! fedmsg.meta read the body with Python's `dict.get` and `[]`: a key it indexes that is
//! missing made it say nothing, one it `.get`s stood for the default. The helpers below keep
//! that difference: `None` where Python would have raised.

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;
use super::py::{py_scalar_str as py, truthy_at as truthy};

mod schema;

pub(super) use schema::package;

pub(super) struct Bodhi;

const BODHI: &str = "https://bodhi.fedoraproject.org";

/// `obj.get(key)` where `obj` defaulted to `{}` when missing: `None` when `obj` is no dict
/// (Python raised), `Some(None)` when the key is absent.
fn dict_get<'v>(obj: Option<&'v Value>, key: &str) -> Option<Option<&'v Value>> {
    match obj {
        None => Some(None),
        Some(Value::Object(o)) => Some(o.get(key)),
        Some(_) => None,
    }
}

/// fedmsg.meta's `truncate`: 40 characters and `...`, from 40 characters on.
fn truncate(title: &str) -> String {
    if title.chars().count() < 40 {
        return title.to_owned();
    }
    let mut out: String = title.chars().take(40).collect();
    out.push_str("...");
    out
}

/// `_u2p`: the package names of NVRs split on spaces and commas (`rsplit('-', 2)[0]`).
fn u2p(nvrs: &str) -> impl Iterator<Item = &str> {
    nvrs.split([' ', ',']).map(schema::package)
}

/// A name that is a string, or a dict's `name` (`_comment_author` and its kin).
fn author(v: Option<&Value>) -> Option<&str> {
    match v? {
        Value::Object(o) => o.get("name")?.as_str(),
        v => v.as_str(),
    }
}

fn comment_author<'m>(msg: &'m Message) -> Option<&'m str> {
    let c = msg.get(&["comment"])?;
    author(c.get("user").or_else(|| c.get("author")))
}

fn update_author<'m>(msg: &'m Message) -> Option<&'m str> {
    let u = msg.get(&["update"])?;
    author(u.get("user").or_else(|| u.get("submitter")))
}

fn override_author<'m>(msg: &'m Message) -> Option<&'m str> {
    let o = msg.get(&["override"]).filter(|o| truthy(Some(o)))?;
    author(o.get("submitter"))
}

/// `_override_nvr`: the override's `build`, or its `nvr` when it is a dict.
fn override_nvr<'m>(msg: &'m Message) -> Option<&'m Value> {
    let build = dict_get(msg.get(&["override"]), "build")??;
    match build {
        Value::Object(b) => b.get("nvr"),
        b => Some(b),
    }
}

/// The update a message is about, as `body.get('update', comment.get('update', {}))`:
/// `Some(None)` for the default.
fn update_value<'m>(msg: &'m Message) -> Option<Option<&'m Value>> {
    let comment = msg.get(&["comment"]);
    let inner = dict_get(comment, "update")?;
    Some(msg.get(&["update"]).or(inner))
}

/// `titlestring`: the update's title, else its builds' NVRs, else the comment's update title.
fn titlestring(msg: &Message) -> Option<String> {
    let comment = msg.get(&["comment"]);
    let update = update_value(msg)?;
    if !truthy(update) {
        return match dict_get(comment, "update_title")? {
            None => Some(String::new()),
            Some(t) => t.as_str().map(str::to_owned),
        };
    }
    let u = update?.as_object()?;
    if let Some(title) = u.get("title").filter(|t| truthy(Some(t))) {
        return title.as_str().map(str::to_owned);
    }
    let nvrs = match u.get("builds") {
        None => Vec::new(),
        Some(b) => b
            .as_array()?
            .iter()
            .map(|b| b.get("nvr")?.as_str())
            .collect::<Option<Vec<_>>>()?,
    };
    Some(nvrs.join(" "))
}

/// `title_or_alias`: what an update's link names it by.
fn title_or_alias(msg: &Message) -> Option<String> {
    let comment = msg.get(&["comment"]);
    let update = update_value(msg)?;
    let candidates = [
        dict_get(update, "alias")?,
        dict_get(update, "title")?,
        dict_get(comment, "update_alias")?,
    ];
    if let Some(v) = candidates.into_iter().flatten().find(|v| truthy(Some(v))) {
        return py(v);
    }
    match dict_get(comment, "update_title")? {
        None => Some(String::new()),
        Some(t) => py(t),
    }
}

const UPDATE_TOPICS: [&str; 8] = [
    "bodhi.update.comment",
    "bodhi.update.complete",
    "bodhi.update.request",
    "bodhi.update.edit",
    "bodhi.update.eject",
    "bodhi.update.karma.threshold",
    "bodhi.update.requirements_met",
    "bodhi.errata.publish",
];

fn is_update_topic(msg: &Message) -> bool {
    UPDATE_TOPICS.iter().any(|t| msg.topic().contains(t))
}

/// Update syncs, published by the new-updates-sync script rather than by bodhi.
fn is_ftp_sync(msg: &Message) -> bool {
    msg.topic().contains("bodhi.updates.") && msg.topic().ends_with(".sync")
}

/// The product of a sync topic (`bodhi.updates.epel.sync`): `Fedora`, `EPEL`, or as written.
fn sync_product<'m>(msg: &'m Message) -> &'m str {
    match msg.topic().rsplit('.').nth(1).unwrap_or_default() {
        "fedora" => "Fedora",
        "epel" => "EPEL",
        other => other,
    }
}

/// A sync's release and whether it was the modular one (`30m`).
fn sync_release<'m>(msg: &'m Message) -> Option<(&'m str, bool)> {
    let release = msg.str_at(&["release"])?;
    let base = release.trim_end_matches('m');
    Some((base, release.ends_with('m')))
}

/// Whether fedmsg.meta's usernames raised (a comment without text), and so named nobody.
fn usernames_fail(msg: &Message) -> bool {
    msg.get(&["comment"])
        .is_some_and(|c| c.get("text").and_then(Value::as_str).is_none())
}

fn fedmsg_usernames(msg: &Message, out: &mut Keys) {
    if usernames_fail(msg) {
        return;
    }
    out.extend(comment_author(msg));
    out.extend(update_author(msg));
    out.extend(override_author(msg));
    if let Some(text) = msg.str_at(&["comment", "text"]) {
        out.extend(at_words(text));
    }
    out.extend(msg.str_at(&["agent"]));
}

/// `re.findall('@\w+', text)`, without the `@`.
fn at_words(text: &str) -> Vec<&str> {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('@') {
        let after = &rest[i + 1..];
        let end = after.find(|c: char| !word(c)).unwrap_or(after.len());
        if end > 0 {
            out.push(&after[..end]);
        }
        rest = &after[end..];
    }
    out
}

fn fedmsg_packages(msg: &Message, out: &mut Keys) {
    let topic = msg.topic();
    if is_update_topic(msg) {
        if let Some(t) = titlestring(msg) {
            out.extend(u2p(&t).map(str::to_owned));
        }
    } else if topic.contains("bodhi.buildroot_override.") {
        out.extend(
            override_nvr(msg)
                .and_then(Value::as_str)
                .into_iter()
                .flat_map(u2p),
        );
    } else if topic.contains("bodhi.stack") {
        if let Some(pkgs) = msg.get(&["stack", "packages"]).and_then(Value::as_array) {
            out.extend(pkgs.iter().filter_map(|p| p.get("name")?.as_str()));
        }
    } else if topic.contains("bodhi.masher.start")
        && let Some(updates) = msg.get(&["updates"]).and_then(Value::as_array)
    {
        out.extend(updates.iter().filter_map(Value::as_str).flat_map(u2p));
    }
}

fn fedmsg_link(msg: &Message) -> Option<String> {
    let topic = msg.topic();
    if is_update_topic(msg) {
        return Some(format!("{BODHI}/updates/{}", title_or_alias(msg)?));
    }
    if topic.contains("bodhi.stack") {
        return Some(format!(
            "{BODHI}/stacks/{}",
            py(msg.get(&["stack", "name"])?)?
        ));
    }
    if topic.contains("bodhi.buildroot_override") {
        let nvr = override_nvr(msg).map_or(Some("None".into()), py)?;
        return Some(format!("{BODHI}/overrides/{nvr}"));
    }
    if is_ftp_sync(msg) {
        return sync_link(msg);
    }
    Some(BODHI.to_owned())
}

fn sync_link(msg: &Message) -> Option<String> {
    let repo = msg.str_at(&["repo"])?;
    let (release, modular) = sync_release(msg)?;
    let product = sync_product(msg).to_lowercase();
    let mut link = format!("https://download.fedoraproject.org/pub/{product}/");
    if product == "fedora" {
        link.push_str(if repo == "atomic" {
            "linux/atomic/"
        } else {
            "linux/updates/"
        });
    }
    if repo.ends_with("testing") {
        link.push_str("testing/");
    }
    link.push_str(release);
    link.push('/');
    if modular {
        link.push_str("Modular/");
    } else if !release.is_empty() && release.chars().all(|c| c.is_ascii_digit()) {
        // A number too long to parse is above either threshold.
        let n = release.parse::<u64>().unwrap_or(u64::MAX);
        if (product == "fedora" && n > 27) || (product == "epel" && n > 7) {
            link.push_str("Everything/");
        }
    }
    Some(link)
}

fn fedmsg_long_text(msg: &Message) -> Option<String> {
    let topic = msg.topic();
    let text = if topic.contains("bodhi.update.comment") {
        msg.str_at(&["comment", "text"])?.to_owned()
    } else if topic.contains("bodhi.errata.publish") {
        msg.str_at(&["body"])?.to_owned()
    } else if topic.contains("bodhi.masher.start") || topic.contains("bodhi.composer.start") {
        let updates = msg.get(&["updates"])?.as_array()?;
        let names = updates
            .iter()
            .map(Value::as_str)
            .collect::<Option<Vec<_>>>()?;
        format!("\n- {}\n", names.join("\n- "))
    } else {
        return None;
    };
    // An empty long form gave way to the subtitle.
    (!text.is_empty()).then_some(text)
}

/// `body.get(key)` rendered, a missing key as `None`.
fn get_or_none(msg: &Message, key: &str) -> Option<String> {
    py(msg.get(&[key]).unwrap_or(&Value::Null))
}

/// `body.get(key, default)` rendered.
fn get_or(msg: &Message, key: &str, default: &str) -> Option<String> {
    msg.get(&[key]).map_or(Some(default.to_owned()), py)
}

fn sync_subtitle(msg: &Message) -> Option<String> {
    let (release, modular) = sync_release(msg)?;
    Some(format!(
        "New {} {release} {}{} content synced out ({} changed with {} files deleted)",
        sync_product(msg),
        py(msg.get(&["repo"])?)?,
        if modular { " modular" } else { "" },
        py(msg.get(&["bytes"])?)?,
        py(msg.get(&["deleted"])?)?
    ))
}

fn comment_subtitle(msg: &Message) -> Option<String> {
    let comment = msg.get(&["comment"])?;
    let karma = py(comment.get("karma")?)?;
    let inner = dict_get(comment.get("update"), "title")?;
    let title = match comment.get("update_title").or(inner) {
        Some(t) => t.as_str()?,
        None => "",
    };
    Some(format!(
        "{} commented on bodhi update {} (karma: {karma})",
        comment_author(msg).unwrap_or("None"),
        truncate(title)
    ))
}

/// `bodhi.py`'s subtitle, branch by branch in its order (topics are matched as substrings).
fn fedmsg_summary(msg: &Message) -> Option<String> {
    let has = |t: &str| msg.topic().contains(t);
    if is_ftp_sync(msg) {
        return sync_subtitle(msg);
    }
    if has("bodhi.masher.start") || has("bodhi.composer.start") {
        let agent = py(msg.get(&["agent"])?)?;
        return Some(match msg.get(&["updates"]) {
            Some(u) => format!(
                "{agent} requested a mash of {} updates",
                u.as_array()?.len()
            ),
            None => format!("{agent} requested a mash of some updates"),
        });
    }
    if has("bodhi.update.comment") {
        return comment_subtitle(msg);
    }
    let update = [
        "bodhi.update.complete.",
        "bodhi.update.eject",
        "bodhi.update.edit",
        "bodhi.update.request",
    ];
    if update.into_iter().any(has) {
        return update_subtitle(msg);
    }
    mashtask_subtitle(msg)
}

/// An update pushed, ejected from a mash, edited, or requested for a repository; the branches
/// in `fedmsg_summary`'s order.
fn update_subtitle(msg: &Message) -> Option<String> {
    let topic = msg.topic();
    let has = |t: &str| topic.contains(t);
    let title = || titlestring(msg).map(|t| truncate(&t));
    let update_author = || update_author(msg).unwrap_or("None");
    if has("bodhi.update.complete.") {
        let status = py(msg.get(&["update"])?.get("status")?)?;
        let pkgs = title()?;
        return Some(format!(
            "{}'s {pkgs} bodhi update completed push to {status}",
            update_author()
        ));
    }
    if has("bodhi.update.eject") {
        msg.get(&["update"])?;
        let pkgs = title()?;
        return Some(format!(
            "{}'s {pkgs} bodhi update was ejected from the {} mash.  Reason: \"{}\"",
            update_author(),
            py(msg.get(&["repo"])?)?,
            py(msg.get(&["reason"])?)?
        ));
    }
    if has("bodhi.update.edit") {
        let agent = py(msg.get(&["agent"])?)?;
        return Some(format!("{agent} edited {}", title()?));
    }
    if has("bodhi.update.request") {
        let status = topic.rsplit('.').next().unwrap_or_default();
        let agent = get_or_none(msg, "agent")?;
        let title = title()?;
        return Some(if matches!(status, "unpush" | "obsolete" | "revoke") {
            let past = if status.ends_with('e') { "d" } else { "ed" };
            format!("{agent} {status}{past} {title}")
        } else {
            format!("{agent} submitted {title} to {status}")
        });
    }
    None
}

/// The masher's tasks, then the composer's and the other branches.
fn mashtask_subtitle(msg: &Message) -> Option<String> {
    let has = |t: &str| msg.topic().contains(t);
    let masher = |what: &str| Some(format!("bodhi masher {what}"));
    let repo = || get_or_none(msg, "repo");
    if has("bodhi.mashtask.start") {
        return masher("started a push");
    }
    if has("bodhi.mashtask.mashing") {
        return masher(&format!("started mashing {}", repo()?));
    }
    if has("bodhi.mashtask.complete") {
        let ok = truthy(Some(msg.get(&["success"])?));
        return if ok {
            masher(&format!("successfully mashed {}", repo()?))
        } else {
            masher(&format!("failed to mash {}", repo()?))
        };
    }
    if has("bodhi.mashtask.sync.wait") {
        return masher(&format!(
            "is waiting for {} to hit the master mirror",
            repo()?
        ));
    }
    if has("bodhi.mashtask.sync.done") {
        return masher(&format!(
            "finished waiting for {} to hit the master mirror",
            repo()?
        ));
    }
    composer_subtitle(msg).or_else(|| other_subtitle(msg))
}

fn composer_subtitle(msg: &Message) -> Option<String> {
    let has = |t: &str| msg.topic().contains(t);
    let ctype = || get_or(msg, "ctype", "unknown type");
    let repo = || get_or(msg, "repo", "unknown repo");
    if has("bodhi.compose.start") {
        return Some("bodhi composer started a run".into());
    }
    if has("bodhi.compose.composing") {
        return Some(format!(
            "bodhi {} compose of repo {} started",
            ctype()?,
            repo()?
        ));
    }
    if has("bodhi.repo.done") {
        return Some(format!("bodhi repo {} created", repo()?));
    }
    if has("bodhi.compose.complete") {
        let result = match msg.get(&["success"]) {
            None => "completed".to_owned(),
            Some(Value::Bool(true)) => "succeeded".to_owned(),
            Some(Value::Bool(false)) => "failed".to_owned(),
            Some(v) => py(v)?,
        };
        return Some(format!(
            "bodhi {} compose of repo {} {result}",
            ctype()?,
            repo()?
        ));
    }
    let repo = || get_or_none(msg, "repo");
    if has("bodhi.compose.sync.wait") {
        return Some(format!(
            "bodhi composer is waiting for {} to hit the master mirror",
            repo()?
        ));
    }
    if has("bodhi.compose.sync.done") {
        return Some(format!(
            "bodhi composer finished waiting for {} to hit the master mirror",
            repo()?
        ));
    }
    None
}

fn other_subtitle(msg: &Message) -> Option<String> {
    let topic = msg.topic();
    let has = |t: &str| topic.contains(t);
    let overridden = |verb: &str| {
        let submitter = match msg.get(&["override"]).filter(|o| truthy(Some(o))) {
            None => "None".to_owned(),
            Some(o) => match o.get("submitter")? {
                Value::Object(s) => py(s.get("name")?)?,
                s => py(s)?,
            },
        };
        let build = override_nvr(msg).map_or(Some("None".into()), py)?;
        Some(format!(
            "{submitter} {verb} a buildroot override for {build}"
        ))
    };
    let stack = |verb: &str| {
        Some(format!(
            "{} {verb} the \"{}\" stack",
            py(msg.get(&["agent"])?)?,
            py(msg.get(&["stack", "name"])?)?
        ))
    };
    if has("bodhi.buildroot_override.tag") {
        return overridden("submitted");
    }
    if has("bodhi.buildroot_override.untag") {
        return overridden("expired");
    }
    if has("bodhi.stack.save") {
        return stack("updated");
    }
    if has("bodhi.stack.delete") {
        return stack("deleted");
    }
    if has("bodhi.update.karma.threshold") {
        let title = truncate(&titlestring(msg)?);
        let status = py(msg.get(&["status"])?)?;
        return Some(format!("{title} reached the {status} karma threshold"));
    }
    if has("bodhi.update.requirements_met") {
        let status = topic.rsplit('.').next().unwrap_or_default();
        let title = truncate(&titlestring(msg)?);
        return Some(format!("{title} reached the {status} testing threshold"));
    }
    if has("bodhi.errata.publish") {
        return msg.str_at(&["subject"]).map(str::to_owned);
    }
    None
}

/// fedmsg.meta's agent for bodhi: it had none of its own, so it took one of the usernames
/// (any one: a set's); the one that acted is the likeliest.
fn fedmsg_agent(msg: &Message) -> Option<String> {
    if usernames_fail(msg) {
        return None;
    }
    let mut users = Keys::new();
    fedmsg_usernames(msg, &mut users);
    if users.len() == 1 {
        return users.iter().next().map(str::to_owned);
    }
    comment_author(msg)
        .or_else(|| update_author(msg))
        .or_else(|| override_author(msg))
        .map(str::to_owned)
}

impl Family for Bodhi {
    fn agent(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            fedmsg_agent(msg)
        } else {
            schema::agent(msg)
        }
    }

    fn agent_involved(&self, msg: &Message) -> bool {
        if msg.is_fedmsg() {
            !usernames_fail(msg)
        } else {
            schema::agent_involved(msg)
        }
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        if msg.is_fedmsg() {
            fedmsg_usernames(msg, out)
        } else {
            schema::usernames(msg, out)
        }
    }

    fn packages(&self, msg: &Message, out: &mut Keys) {
        if msg.is_fedmsg() {
            fedmsg_packages(msg, out)
        } else {
            schema::packages(msg, out)
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            fedmsg_summary(msg)
        } else {
            schema::summary(msg)
        }
    }

    fn long_text(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            fedmsg_long_text(msg)
        } else {
            schema::long_text(msg)
        }
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            fedmsg_link(msg)
        } else {
            schema::link(msg)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_words_follow_fedmsg_meta() {
        assert_eq!(at_words("@a thanks @b-c, x@d @@e"), ["a", "b", "d", "e"]);
        assert_eq!(truncate(&"y".repeat(40)), format!("{}...", "y".repeat(40)));
        let pkgs: Vec<_> = u2p("a-1-1.fc18,b-2-1.fc18 c").collect();
        assert_eq!(pkgs, ["a", "b", "c"]);
    }
}
