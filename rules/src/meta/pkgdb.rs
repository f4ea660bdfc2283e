//! PkgDB, the package database dist-git replaced (`pkgdb`): ownership, ACLs, branches.

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;
use crate::util::user_name;

pub struct Pkgdb;

const PKGDB: &str = "https://admin.fedoraproject.org/pkgdb/package";

fn s<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

/// The package object or name, from wherever this kind of message keeps it.
fn package<'m>(msg: &'m Message) -> Option<&'m Value> {
    msg.get(&["package_listing", "package"])
        .or_else(|| msg.get(&["package_listings", "0", "package"]))
        .or_else(|| msg.get(&["action", "package"]))
        .or_else(|| msg.get(&["package"]))
        .filter(|p| !p.is_null())
}

fn package_name<'m>(msg: &'m Message) -> Option<&'m str> {
    match package(msg) {
        Some(Value::String(name)) => Some(name),
        Some(p) => s(p, "name"),
        None => msg
            .str_at(&["info", "pkg_name"])
            .or_else(|| msg.str_at(&["action", "info", "pkg_name"])),
    }
}

/// `rpms/NAME`, or the package's own namespace.
fn full_name(msg: &Message) -> Option<String> {
    let ns = package(msg)
        .and_then(|p| s(p, "namespace"))
        .unwrap_or("rpms");
    Some(format!("{ns}/{}", package_name(msg)?))
}

fn branch<'m>(msg: &'m Message) -> Option<&'m str> {
    msg.str_at(&["package_listing", "collection", "branchname"])
        .or_else(|| msg.str_at(&["collection", "branchname"]))
}

fn agent<'m>(msg: &'m Message) -> Option<&'m str> {
    match msg.get(&["agent"])? {
        Value::Array(a) => a.first()?.as_str(),
        v => user_name(Some(v)),
    }
}

impl Family for Pkgdb {
    fn agent(&self, msg: &Message) -> Option<String> {
        agent(msg).map(str::to_owned)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        if let Some(a) = agent(msg) {
            out.insert(a);
        }
    }

    fn packages(&self, msg: &Message, out: &mut Keys) {
        out.extend(package_name(msg));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let agent = agent(msg)?;
        let name = || full_name(msg);
        let in_branch = || Some(format!("{} ({})", name()?, branch(msg)?));
        Some(match msg.subtopic() {
            "package.new" => format!(
                "{agent} added a new package '{}' ({})",
                name()?,
                branch(msg)?
            ),
            "owner.update" => format!(
                "{agent} changed owner of {} to '{}'",
                in_branch()?,
                msg.str_at(&["package_listing", "point_of_contact"])?
            ),
            "acl.request.toggle" => format!(
                "{agent} has {} '{}' on {}",
                msg.str_at(&["acl_action"])?,
                msg.str_at(&["acl"])?,
                in_branch()?
            ),
            "acl.update" => format!(
                "{agent} changed {} to {} on {} for {}",
                msg.str_at(&["acl"])?,
                msg.str_at(&["status"])?,
                in_branch()?,
                msg.str_at(&["username"])?
            ),
            "acl.user.remove" => {
                let branches: Vec<&str> = msg
                    .get(&["package_listings"])?
                    .as_array()?
                    .iter()
                    .filter_map(|l| l.get("collection")?.get("branchname")?.as_str())
                    .collect();
                format!(
                    "{agent} removed {} from {} ({})",
                    msg.str_at(&["username"])?,
                    name()?,
                    branches.join(", ")
                )
            }
            "package.update" => format!("{agent} made some updates to {}", name()?),
            "package.update.status" => format!("{agent} unretired {}", in_branch()?),
            "branch.clone" => format!(
                "{agent} branched {} {} from {}",
                name()?,
                msg.str_at(&["branch"])?,
                msg.str_at(&["master"])?
            ),
            "package.retire" => format!("{agent} retired {}!", in_branch()?),
            "branch.start" => format!(
                "{agent} started a branch of {} from {}",
                msg.str_at(&["collection_to", "branchname"])?,
                msg.str_at(&["collection_from", "branchname"])?
            ),
            "branch.complete" => format!(
                "{agent}'s branch of {} from {} completed",
                msg.str_at(&["collection_to", "branchname"])?,
                msg.str_at(&["collection_from", "branchname"])?
            ),
            "collection.new" => format!(
                "{agent} created a new collection for {} {}",
                msg.str_at(&["collection", "name"])?,
                msg.str_at(&["collection", "version"])?
            ),
            "collection.update" => {
                let fields: Vec<&str> = msg
                    .get(&["fields"])?
                    .as_array()?
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                format!(
                    "{agent} updated the following fields of the {} {} collection: {}",
                    msg.str_at(&["collection", "name"])?,
                    msg.str_at(&["collection", "version"])?,
                    fields.join(", ")
                )
            }
            "package.delete" => format!("{agent} deleted the '{}' package from the pkgdb", name()?),
            "package.branch.delete" => format!(
                "{agent} deleted the {} branch of the '{}' package",
                branch(msg)?,
                name()?
            ),
            "package.branch.new" => format!(
                "{agent} created the branch '{}' for the package '{}'",
                branch(msg)?,
                name()?
            ),
            "package.new.request" => format!(
                "{agent} requested package {} on branch {}",
                name()?,
                msg.str_at(&["info", "pkg_collection"])?
            ),
            "package.branch.request" => format!(
                "{agent} requested branch {} for package {}",
                branch(msg)?,
                name()?
            ),
            "package.unretire.request" => format!(
                "{agent} asks that {} be unretired on {}",
                name()?,
                branch(msg)?
            ),
            "admin.action.status.update" => {
                let what = match msg.str_at(&["action", "action"])? {
                    "request.package" => "package request",
                    "request.branch" => "branch request",
                    "request.unretire" => "unretire request",
                    other => other,
                };
                let mut out = format!(
                    "{agent} changed {}'s {what} for {} in {} from {} to {}",
                    msg.str_at(&["action", "user"])?,
                    name()?,
                    msg.str_at(&["action", "collection", "branchname"])?,
                    msg.str_at(&["old_status"])?,
                    msg.str_at(&["new_status"])?
                );
                if let Some(m) = msg.str_at(&["action", "message"]).filter(|m| !m.is_empty()) {
                    out.push_str(&format!(" with message: {m}"));
                }
                out
            }
            "package.critpath.update" => {
                let branches: Vec<&str> = msg
                    .get(&["branches"])?
                    .as_array()?
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                let verb = if msg.get(&["critpath"]).and_then(Value::as_bool) == Some(true) {
                    "set"
                } else {
                    "unset"
                };
                format!(
                    "{agent} {verb} the critpath flag on the {} package ({})",
                    name()?,
                    branches.join(", ")
                )
            }
            "package.monitor.update" => format!(
                "{agent} set the monitor flag of {} to {}",
                name()?,
                match msg.get(&["status"])? {
                    Value::Bool(true) => "True".to_owned(),
                    Value::Bool(false) => "False".to_owned(),
                    other => other.as_str()?.to_owned(),
                }
            ),
            _ => return None,
        })
    }

    fn link(&self, msg: &Message) -> Option<String> {
        Some(format!("{PKGDB}/{}/", full_name(msg)?))
    }
}
