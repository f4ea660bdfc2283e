//! Anitya, release-monitoring.org.

use fmn_rules_sdk::{Args, Message, RuleDef, rule, rules, topic_rules};
use serde::Deserialize;

use super::{is, list};

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// Anitya: a distribution is added.
        anitya_distro_add => ["*anitya.distro.add"],
        /// Anitya: a distribution is updated.
        anitya_distro_update => ["*anitya.distro.edit"],
        /// Anitya: a project is added.
        anitya_project_add => ["*anitya.project.add"],
        /// Anitya: someone tries to add a project.
        anitya_project_add_tried => ["*anitya.project.add.tried"],
        /// Anitya: a project is updated.
        anitya_project_update => ["*anitya.project.edit"],
        /// Anitya: an upstream project is mapped to a distribution's package.
        anitya_mapping_new => ["*anitya.project.map.new"],
        /// Anitya: a project's mapping to a distribution is updated.
        anitya_mapping_update => ["*anitya.project.map.update"],
        /// Anitya: a project's mapping to a distribution is deleted.
        anitya_mapping_deleted => ["*anitya.project.map.remove"],
        /// Anitya: a project is deleted.
        anitya_project_deleted => ["*anitya.project.remove"],
        /// Anitya: a new upstream release is detected.
        anitya_new_update => ["*anitya.project.version.update"],
        /// Anitya: a project's metadata is updated.
        anitya_info_update => ["*anitya.project.update"],
    }
}

/// The rules that look inside the message.
pub const RULES: &[RuleDef] = rules![
    anitya_catchall,
    anitya_unmapped_new_update,
    anitya_specific_distro,
    anitya_by_upstream_project,
];

/// Anitya: every event of release-monitoring.org (new releases, mappings, distributions).
#[rule(topics = ["*anitya.*"])]
pub fn anitya_catchall(msg: &Message) -> bool {
    is(msg, "anitya")
}

/// Anitya: new upstream releases of projects mapped to no Fedora package.
#[rule(topics = ["*anitya.project.version.update"])]
pub fn anitya_unmapped_new_update(msg: &Message) -> bool {
    if !msg.topic().ends_with("anitya.project.version.update") {
        return false;
    }
    let packages = msg.get(&["message", "packages"]).and_then(|p| p.as_array());
    !packages.is_some_and(|ps| {
        ps.iter().any(|p| {
            p.get("distro")
                .and_then(|d| d.as_str())
                .is_some_and(|d| d.eq_ignore_ascii_case("fedora"))
        })
    })
}

/// Arguments of `anitya_specific_distro`.
#[derive(Debug, Deserialize, Args)]
pub struct DistroArgs {
    /// The distribution's name, e.g. `Fedora`.
    pub distro: String,
}

/// Anitya: events about one distribution only.
#[rule(topics = ["*anitya.*"])]
pub fn anitya_specific_distro(msg: &Message, args: &DistroArgs) -> bool {
    if args.distro.is_empty() || !is(msg, "anitya") {
        return false;
    }
    let named = |v: Option<&serde_json::Value>| {
        v.and_then(|d| d.get("name"))
            .and_then(|n| n.as_str())
            .is_some_and(|n| n.eq_ignore_ascii_case(&args.distro))
    };
    if named(msg.get(&["distro"])) || named(msg.get(&["project", "distro"])) {
        return true;
    }
    msg.get(&["message", "packages"])
        .and_then(|p| p.as_array())
        .is_some_and(|ps| {
            ps.iter().any(|p| {
                p.get("distro")
                    .and_then(|d| d.as_str())
                    .is_some_and(|d| d.eq_ignore_ascii_case(&args.distro))
            })
        })
}

/// Arguments of `anitya_by_upstream_project`.
#[derive(Debug, Deserialize, Args)]
pub struct ProjectsArgs {
    /// Upstream project names, comma-separated (`requests`, not `python-requests`).
    pub projects: String,
}

/// Anitya: anything about particular upstream projects.
#[rule(topics = ["*anitya.*"])]
pub fn anitya_by_upstream_project(msg: &Message, args: &ProjectsArgs) -> bool {
    if !is(msg, "anitya") {
        return false;
    }
    let Some(project) = msg.str_at(&["project", "name"]) else {
        return false;
    };
    list(&args.projects).any(|p| p == project)
}
