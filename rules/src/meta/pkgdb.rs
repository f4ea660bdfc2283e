//! PkgDB, the package database dist-git replaced (`pkgdb`): ownership, ACLs, branches, as
//! fedmsg.meta's `PkgdbProcessor` (pkgdb.py) gives them.

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;
use super::py::{py_str, truthy_at};

pub(super) struct Pkgdb;

/// How Python's lookups fail, for the definition's `try`/`except KeyError` branches.
#[derive(Debug, PartialEq)]
enum PyErr {
    Key,
    Type,
    Other,
}

type R<T> = Result<T, PyErr>;

/// `v[key]`: a dict's key, a list's index.
fn item<'v>(v: &'v Value, key: &str) -> R<&'v Value> {
    match v {
        Value::Object(o) => o.get(key).ok_or(PyErr::Key),
        Value::Array(a) => key
            .parse::<usize>()
            .map_err(|_| PyErr::Type)
            .and_then(|i| a.get(i).ok_or(PyErr::Other)),
        _ => Err(PyErr::Type),
    }
}

fn path<'v>(v: &'v Value, keys: &[&str]) -> R<&'v Value> {
    keys.iter().try_fold(v, |v, k| item(v, k))
}

/// `key in v`: a dict's keys, a text's substrings, a list's items.
fn contains(v: &Value, key: &str) -> R<bool> {
    match v {
        Value::Object(o) => Ok(o.contains_key(key)),
        Value::String(s) => Ok(s.contains(key)),
        Value::Array(a) => Ok(a.iter().any(|x| x.as_str() == Some(key))),
        _ => Err(PyErr::Type),
    }
}

/// `v.get(key, "rpms")` of a package's namespace: dicts only.
fn namespace(v: &Value, key: &str) -> R<String> {
    match v {
        Value::Object(o) => Ok(o.get(key).map_or_else(|| "rpms".to_owned(), py_str)),
        _ => Err(PyErr::Other),
    }
}

fn s(v: &Value, keys: &[&str]) -> R<String> {
    path(v, keys).map(py_str)
}

/// The acting user; older messages gave a list of them.
fn get_agent(b: &Value) -> R<&Value> {
    match item(b, "agent")? {
        Value::Array(a) => a.first().ok_or(PyErr::Other),
        v => Ok(v),
    }
}

fn agent_text(b: &Value) -> R<String> {
    get_agent(b).map(py_str)
}

/// `", ".join(items)`: texts only.
fn join(v: &Value) -> R<String> {
    let items: Option<Vec<&str>> = match v {
        Value::Array(a) => a.iter().map(Value::as_str).collect(),
        Value::String(s) => return Ok(s.chars().map(String::from).collect::<Vec<_>>().join(", ")),
        _ => None,
    };
    items.map(|i| i.join(", ")).ok_or(PyErr::Type)
}

impl Family for Pkgdb {
    fn agent(&self, msg: &Message) -> Option<String> {
        // fedmsg.meta names any one of the users; the one who acted is the message's agent.
        get_agent(msg.body()).ok()?.as_str().map(str::to_owned)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        let mut users = Vec::new();
        let b = msg.body();
        if let Ok(a) = get_agent(b) {
            users.push(a);
        }
        if let Ok(u) = path(b, &["acl", "fas_name"]) {
            users.push(u);
        }
        if let Ok(u) = item(b, "username") {
            users.push(u);
        }
        out.extend(
            users
                .into_iter()
                .filter_map(Value::as_str)
                .filter(|u| *u != "orphan"),
        );
    }

    fn packages(&self, msg: &Message, out: &mut Keys) {
        out.extend(packages(msg.body()).unwrap_or_default());
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        subtitle(msg.topic(), msg.body()).ok()
    }

    fn link(&self, msg: &Message) -> Option<String> {
        link(msg.topic(), msg.body()).ok().flatten()
    }
}

/// Whether a package counts: fedmsg.meta asked about one namespace (its configuration's,
/// `rpms` unless set), fmn keys the packages of every namespace by their bare name
/// (docs/data.md), so any namespace counts; what the definition fails on still fails.
fn in_namespace(package: &Value, key: &str) -> R<bool> {
    if contains(package, key)? {
        item(package, key)?;
    }
    Ok(true)
}

/// Every package the message names, of any namespace: from its listing(s), its package, its ACL,
/// its request. `Err` where the definition fails outright.
fn packages(b: &Value) -> R<Vec<String>> {
    let mut out = Vec::new();
    // The listings' lookups forgive a missing key; the others a wrong type too.
    for block in [listing as Block, listings] {
        match block(b, &mut out) {
            Ok(()) | Err(PyErr::Key) => {}
            Err(e) => return Err(e),
        }
    }
    for block in [
        own_package as Block,
        acl_package,
        requested,
        action_requested,
        action_package,
    ] {
        match block(b, &mut out) {
            Ok(()) | Err(PyErr::Key | PyErr::Type) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

type Block = fn(&Value, &mut Vec<String>) -> R<()>;

fn add_rpm(p: &Value, out: &mut Vec<String>) -> R<()> {
    if in_namespace(p, "namespace")?
        && let Value::String(name) = item(p, "name")?
    {
        out.push(name.clone());
    }
    Ok(())
}

fn listing(b: &Value, out: &mut Vec<String>) -> R<()> {
    add_rpm(path(b, &["package_listing", "package"])?, out)
}

fn listings(b: &Value, out: &mut Vec<String>) -> R<()> {
    let Value::Array(listings) = item(b, "package_listings")? else {
        return Err(PyErr::Type);
    };
    for l in listings {
        add_rpm(item(l, "package")?, out)?;
    }
    Ok(())
}

fn own_package(b: &Value, out: &mut Vec<String>) -> R<()> {
    match item(b, "package")? {
        Value::String(name) => {
            in_namespace(b, "namespace")?;
            out.push(name.clone());
            Ok(())
        }
        p => add_rpm(p, out),
    }
}

fn acl_package(b: &Value, out: &mut Vec<String>) -> R<()> {
    add_rpm(path(b, &["acl", "packagelist", "package"])?, out)
}

fn requested(b: &Value, out: &mut Vec<String>) -> R<()> {
    let info = item(b, "info")?;
    if in_namespace(info, "pkg_namespace")?
        && let Value::String(name) = item(info, "pkg_name")?
    {
        out.push(name.clone());
    }
    Ok(())
}

fn action_requested(b: &Value, out: &mut Vec<String>) -> R<()> {
    let info = path(b, &["action", "info"])?;
    // The definition reads the namespace from a path that is never there.
    if (!contains(info, "pkg_namespace")?
        || path(b, &["info", "action", "pkg_namespace"]).map(|_| true)?)
        && let Value::String(name) = item(info, "pkg_name")?
    {
        out.push(name.clone());
    }
    Ok(())
}

fn action_package(b: &Value, out: &mut Vec<String>) -> R<()> {
    add_rpm(path(b, &["action", "package"])?, out)
}

/// Python's `try: first except KeyError: fallback`.
fn or_on_key<T>(first: impl FnOnce() -> R<T>, fallback: impl FnOnce() -> R<T>) -> R<T> {
    match first() {
        Err(PyErr::Key) => fallback(),
        other => other,
    }
}

/// `NAMESPACE/NAME` of the package of a listing (`package_listing`, `package`, ...).
fn listed(b: &Value, keys: &[&str]) -> R<String> {
    let p = path(b, keys)?;
    let ns = namespace(p, "namespace")?;
    Ok(format!("{ns}/{}", s(p, &["name"])?))
}

/// The package of an update: its listing's, else the message's own (a name or an object).
fn updated_package(b: &Value) -> R<(String, String)> {
    let (mut ns, package) = or_on_key(
        || {
            let p = path(b, &["package_listing", "package"])?;
            Ok((namespace(p, "namespace")?, item(p, "name")?))
        },
        || Ok((namespace(b, "namespace")?, item(b, "package")?)),
    )?;
    let package = match package {
        Value::Object(o) => {
            if let Some(n) = o.get("namespace") {
                ns = py_str(n);
            }
            s(package, &["name"])?
        }
        other => py_str(other),
    };
    Ok((ns, package))
}

fn branch_of(b: &Value, listing: &str) -> R<String> {
    s(b, &[listing, "collection", "branchname"])
}

/// The processor's subtitle: the first branch whose topic test passes, in the processor's
/// order (the families below are tried one after another, each its branches in turn).
fn subtitle(topic: &str, b: &Value) -> R<String> {
    for family in [
        acls_and_updates,
        owners_and_collections,
        deletions_and_requests,
        flags_and_actions,
    ] {
        if let Some(text) = family(topic, b)? {
            return Ok(text);
        }
    }
    Err(PyErr::Other)
}

/// ACLs, clones and updates of packages, the critical path, new packages, ACL requests.
fn acls_and_updates(topic: &str, b: &Value) -> R<Option<String>> {
    let has = |t: &str| topic.contains(t);
    let ends = |t: &str| topic.ends_with(t);
    if has("pkgdb.acl.update") {
        let user = s(b, &["username"])?;
        let status = s(b, &["status"])?;
        let pkg = listed(b, &["package_listing", "package"])?;
        let acl = s(b, &["acl"])?;
        return Ok(Some(format!(
            "{} changed {user}'s '{acl}' permission on {pkg} ({}) to '{status}'",
            agent_text(b)?,
            branch_of(b, "package_listing")?
        )));
    }
    if has("pkgdb.branch.clone") {
        let agent = agent_text(b)?;
        let ns = namespace(b, "namespace")?;
        return Ok(Some(format!(
            "{agent} branched {ns}/{} {} from {}",
            s(b, &["package"])?,
            s(b, &["branch"])?,
            s(b, &["master"])?
        )));
    }
    if has("pkgdb.package.update.status") {
        return update_status(b).map(Some);
    }
    if ends("pkgdb.package.update") {
        let agent = agent_text(b)?;
        let (ns, package) = updated_package(b)?;
        return Ok(Some(if contains(b, "fields")? {
            let fields = join(item(b, "fields")?)?;
            format!("{agent} updated: {fields} of {ns}/{package}")
        } else {
            format!("{agent} made some updates to {ns}/{package}")
        }));
    }
    if has("pkgdb.critpath.update") {
        return Ok(Some(format!(
            "{} altered the critpath status for some packages",
            agent_text(b)?
        )));
    }
    if ends("pkgdb.package.new") {
        let agent = agent_text(b)?;
        let pkg = listed(b, &["package_listing", "package"])?;
        return Ok(Some(format!(
            "{agent} added a new package '{pkg}' ({})",
            branch_of(b, "package_listing")?
        )));
    }
    if has("pkgdb.acl.request.toggle") {
        let pkg = listed(b, &["package_listing", "package"])?;
        let acl = s(b, &["acl"])?;
        let agent = agent_text(b)?;
        let branch = branch_of(b, "package_listing")?;
        return Ok(Some(format!(
            "{agent} has {} '{acl}' on {pkg} ({branch})",
            s(b, &["acl_action"])?
        )));
    }
    Ok(None)
}

/// Retirements, owners, users removed, mass branching, collections.
fn owners_and_collections(topic: &str, b: &Value) -> R<Option<String>> {
    let has = |t: &str| topic.contains(t);
    if has("pkgdb.package.retire") {
        let pkg = listed(b, &["package_listing", "package"])?;
        let action = s(b, &["retirement"])?;
        let agent = agent_text(b)?;
        return Ok(Some(format!(
            "{agent} {action} {pkg} ({})!",
            branch_of(b, "package_listing")?
        )));
    }
    if has("pkgdb.owner.update") {
        // Owners became points of contact in pkgdb2.
        let owner = or_on_key(
            || s(b, &["package_listing", "point_of_contact"]),
            || s(b, &["package_listing", "owner"]),
        )?;
        let pkg = listed(b, &["package_listing", "package"])?;
        let agent = agent_text(b)?;
        return Ok(Some(format!(
            "{agent} changed owner of {pkg} ({}) to '{owner}'",
            branch_of(b, "package_listing")?
        )));
    }
    if has("pkgdb.acl.user.remove") {
        let pkg = listed(b, &["package_listings", "0", "package"])?;
        let user = s(b, &["username"])?;
        let agent = agent_text(b)?;
        let Value::Array(listings) = item(b, "package_listings")? else {
            return Err(PyErr::Type);
        };
        let branches: R<Vec<String>> = listings
            .iter()
            .map(|l| s(l, &["collection", "branchname"]))
            .collect();
        return Ok(Some(format!(
            "{agent} removed {user} from {pkg} ({})",
            branches?.join(", ")
        )));
    }
    if has("pkgdb.branch.start") || has("pkgdb.branch.complete") {
        let agent = agent_text(b)?;
        let from = s(b, &["collection_from", "branchname"])?;
        let to = s(b, &["collection_to", "branchname"])?;
        return Ok(Some(if has("pkgdb.branch.start") {
            format!("{agent} started a branch of {to} from {from}")
        } else {
            format!("{agent}'s branch of {to} from {from} completed")
        }));
    }
    if has("pkgdb.collection.new") {
        let agent = agent_text(b)?;
        return Ok(Some(format!(
            "{agent} created a new collection for {} {}",
            s(b, &["collection", "name"])?,
            s(b, &["collection", "version"])?
        )));
    }
    if has("pkgdb.collection.update") {
        let agent = agent_text(b)?;
        let (name, version) = (
            s(b, &["collection", "name"])?,
            s(b, &["collection", "version"])?,
        );
        return Ok(Some(format!(
            "{agent} updated the following fields of the {name} {version} collection: {}",
            join(item(b, "fields")?)?
        )));
    }
    Ok(None)
}

/// Packages and branches deleted or created, ACLs deleted, branches and packages requested.
fn deletions_and_requests(topic: &str, b: &Value) -> R<Option<String>> {
    let has = |t: &str| topic.contains(t);
    let ends = |t: &str| topic.ends_with(t);
    if has("pkgdb.package.delete") {
        let agent = agent_text(b)?;
        return Ok(Some(format!(
            "{agent} deleted the '{}' package from the pkgdb",
            listed(b, &["package"])?
        )));
    }
    if has("pkgdb.package.branch.delete") {
        let agent = agent_text(b)?;
        let pkg = listed(b, &["package_listing", "package"])?;
        return Ok(Some(format!(
            "{agent} deleted the {} branch of the '{pkg}' package",
            branch_of(b, "package_listing")?
        )));
    }
    if ends("pkgdb.package.branch.new") {
        let agent = agent_text(b)?;
        let pkg = listed(b, &["package"])?;
        return Ok(Some(format!(
            "{agent} created the branch '{}' for the package '{pkg}'",
            branch_of(b, "package_listing")?
        )));
    }
    if has("pkgdb.acl.delete") {
        let acl = item(b, "acl")?;
        let pkg = listed(acl, &["packagelist", "package"])?;
        let branch = s(acl, &["packagelist", "collection", "branchname"])?;
        let (right, user) = (s(acl, &["acl"])?, s(acl, &["fas_name"])?);
        return Ok(Some(format!(
            "{} deleted {user}'s {right} rights from {pkg} ({branch})",
            s(b, &["agent"])?
        )));
    }
    if ends("pkgdb.package.branch.request") {
        let pkg = listed(b, &["package"])?;
        let branch = s(b, &["collection_to", "branchname"])?;
        return Ok(Some(format!(
            "{} requested branch {branch} for package {pkg}",
            s(b, &["agent"])?
        )));
    }
    if ends("pkgdb.package.new.request") {
        let info = item(b, "info")?;
        let ns = namespace(info, "namespace")?;
        let package = s(info, &["pkg_name"])?;
        let branch = s(b, &["collection", "branchname"])?;
        return Ok(Some(format!(
            "{} requested package {ns}/{package} on branch {branch}",
            s(b, &["agent"])?
        )));
    }
    Ok(None)
}

/// Admin actions, the critpath, monitor and koschei flags, unretirement requests.
fn flags_and_actions(topic: &str, b: &Value) -> R<Option<String>> {
    let ends = |t: &str| topic.ends_with(t);
    if ends("pkgdb.admin.action.status.update") {
        return action_status(b).map(Some);
    }
    if ends("pkgdb.package.critpath.update") {
        let agent = s(b, &["agent"])?;
        let action = match item(b, "critpath")? {
            Value::Bool(true) => "set",
            Value::Bool(false) => "unset",
            Value::Number(n) => match n.as_i64() {
                Some(0 | -2) => "unset",
                Some(1 | -1) => "set",
                _ => return Err(PyErr::Other),
            },
            _ => return Err(PyErr::Type),
        };
        let pkg = listed(b, &["package"])?;
        return Ok(Some(format!(
            "{agent} {action} the critpath flag on the {pkg} package ({})",
            join(item(b, "branches")?)?
        )));
    }
    for (t, what) in [
        ("pkgdb.package.monitor.update", "monitor flag"),
        ("pkgdb.package.koschei.update", "koschei monitoring flag"),
    ] {
        if ends(t) {
            let agent = s(b, &["agent"])?;
            let status = s(b, &["status"])?;
            let pkg = listed(b, &["package"])?;
            return Ok(Some(format!("{agent} set the {what} of {pkg} to {status}")));
        }
    }
    if ends("pkgdb.package.unretire.request") {
        let agent = s(b, &["agent"])?;
        let branch = s(b, &["collection", "branchname"])?;
        let pkg = listed(b, &["package"])?;
        return Ok(Some(format!(
            "{agent} asks that {pkg} be unretired on {branch}"
        )));
    }
    Ok(None)
}

/// A package orphaned, retired, or given back, or otherwise updated.
fn update_status(b: &Value) -> R<String> {
    let prev = b.get("prev_status");
    let status = b.get("status");
    let extra = if contains(b, "package_listing")? {
        format!(" in {}", branch_of(b, "package_listing")?)
    } else {
        String::new()
    };
    let mut verb = "made some updates to";
    for (key, left, right) in [
        ("Orphaned", "unorphaned", "orphaned"),
        ("Retired", "unretired", "retired"),
    ] {
        let was = prev.and_then(Value::as_str) == Some(key);
        let is = status.and_then(Value::as_str) == Some(key);
        if was && !is {
            verb = left;
        } else if !was && is {
            verb = right;
        }
    }
    let agent = agent_text(b)?;
    let (ns, package) = or_on_key(
        || {
            let p = path(b, &["package_listing", "package"])?;
            Ok((namespace(p, "namespace")?, s(p, &["name"])?))
        },
        || Ok((namespace(b, "namespace")?, s(b, &["package"])?)),
    )?;
    Ok(format!("{agent} {verb} {ns}/{package}{extra}"))
}

/// An admin deciding on someone's package, branch or unretirement request.
fn action_status(b: &Value) -> R<String> {
    let agent = s(b, &["agent"])?;
    let owner = s(b, &["action", "user"])?;
    let branch = s(b, &["action", "collection", "branchname"])?;
    let pkg = or_on_key(
        || {
            let info = path(b, &["action", "info"])?;
            Ok(format!(
                "{}/{}",
                namespace(info, "namespace")?,
                s(info, &["pkg_name"])?
            ))
        },
        || listed(b, &["action", "package"]),
    )?;
    let action = path(b, &["action", "action"])?;
    let action = match action.as_str() {
        Some("request.package") => "package request".to_owned(),
        Some("request.branch") => "branch request".to_owned(),
        _ => py_str(action),
    };
    let (old, new) = (s(b, &["old_status"])?, s(b, &["new_status"])?);
    let mut out =
        format!("{agent} changed {owner}'s {action} for {pkg} in {branch} from {old} to {new}");
    let message = match item(b, "action")? {
        Value::Object(o) => o.get("message"),
        _ => return Err(PyErr::Other),
    };
    if truthy_at(message) {
        out.push_str(&format!(
            " with message: {}",
            message.map(py_str).unwrap_or_default()
        ));
    }
    Ok(out)
}

const PKGDB: &str = "https://admin.fedoraproject.org/pkgdb/package";

fn link(topic: &str, b: &Value) -> R<Option<String>> {
    let has = |ts: &[&str]| ts.iter().any(|t| topic.contains(t));
    let url = |ns: String, package: String| Ok(Some(format!("{PKGDB}/{ns}/{package}/")));
    if has(&["pkgdb.package.new.request"]) {
        let info = item(b, "info")?;
        return url(namespace(info, "namespace")?, s(info, &["pkg_name"])?);
    }
    if has(&["pkgdb.admin.action.status.update"]) {
        let from = |keys: &[&str], name: &[&str]| -> R<(String, String)> {
            let v = path(b, keys)?;
            Ok((namespace(v, "namespace")?, s(v, name)?))
        };
        let (ns, package) = or_on_key(
            || from(&["action", "info"], &["pkg_name"]),
            || from(&["action", "package"], &["name"]),
        )?;
        return url(ns, package);
    }
    if has(&[
        "pkgdb.acl.update",
        "pkgdb.acl.request.toggle",
        "pkgdb.owner.update",
        "pkgdb.package.retire",
        "pkgdb.package.new",
        "pkgdb.package.branch.new",
    ]) {
        return Ok(Some(format!(
            "{PKGDB}/{}/",
            listed(b, &["package_listing", "package"])?
        )));
    }
    if has(&["pkgdb.acl.user.remove"]) {
        return Ok(Some(format!(
            "{PKGDB}/{}/",
            listed(b, &["package_listings", "0", "package"])?
        )));
    }
    if has(&[
        "pkgdb.package.update",
        "pkgdb.branch.clone",
        "package.branch.request",
    ]) {
        let (ns, package) = updated_package(b)?;
        return url(ns, package);
    }
    Ok(None)
}
