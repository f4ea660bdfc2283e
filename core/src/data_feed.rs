//! Keeping ownership and group data current from the bus.
//!
//! Pagure announces who gains or loses access to a dist-git repository, and the account system
//! who joins or leaves a group. [`changes`] turns such a message into [`Change`]s to the
//! relations of [`crate::data`]; the consumer applies them to the data every worker reads.
//! Projects outside the package namespaces (pagure.io projects) change nothing.

use serde_json::Value;

use crate::Envelope;
use crate::data::{COMMITTERS, Change, GROUP_OWNERS, GROUPS, PACKAGERS};

/// The dist-git namespaces whose repositories are packages (rpms, containers, modules,
/// flatpaks), as Pagure's owner-alias JSON names them.
pub const PACKAGE_NAMESPACES: &[&str] = &["rpms", "container", "modules", "flatpaks"];

/// The changes `envelope` announces; none for most messages.
pub fn changes(envelope: &Envelope) -> Vec<Change> {
    let topic = envelope.topic.as_str();
    // A cheap test first: almost no message is about access or membership.
    if !(topic.contains(".project.user.")
        || topic.contains(".project.group.")
        || topic.contains("fas.group.member."))
    {
        return Vec::new();
    }
    let Ok(body) = serde_json::from_str::<Value>(envelope.body.get()) else {
        return Vec::new();
    };
    // fedmsg bodies republished on fedora-messaging keep their envelope's `msg`.
    let body = match body.get("msg") {
        Some(inner) if inner.is_object() => inner,
        _ => &body,
    };
    if let Some(event) = after(topic, "pagure.project.") {
        return pagure(event, body);
    }
    if let Some(event) = after(topic, "fas.group.member.") {
        return membership(event, body);
    }
    Vec::new()
}

/// The part of `topic` after `marker`, when `marker` starts a dotted segment of it.
fn after<'t>(topic: &'t str, marker: &str) -> Option<&'t str> {
    let i = topic.find(marker)?;
    (i == 0 || topic.as_bytes()[i - 1] == b'.').then(|| &topic[i + marker.len()..])
}

fn text<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Access that lets someone commit; `ticket` access does not.
fn commits(access: Option<&str>) -> bool {
    !matches!(access, Some("ticket"))
}

fn change(relation: &str, key: &str, add: Option<&str>, remove: Option<&str>) -> Change {
    Change {
        relation: relation.to_owned(),
        key: key.to_owned(),
        add: add.into_iter().map(str::to_owned).collect(),
        remove: remove.into_iter().map(str::to_owned).collect(),
    }
}

fn pagure(event: &str, body: &Value) -> Vec<Change> {
    let Some(project) = body.get("project") else {
        return Vec::new();
    };
    let in_package_namespace =
        text(project, "namespace").is_some_and(|ns| PACKAGE_NAMESPACES.contains(&ns));
    let (true, Some(package)) = (in_package_namespace, text(project, "name")) else {
        return Vec::new();
    };
    let access = text(body, "new_access").or_else(|| text(body, "access"));
    match event {
        "user.added" | "user.access.updated" => {
            let Some(user) = text(body, "new_user") else {
                return Vec::new();
            };
            if commits(access) {
                vec![
                    change(COMMITTERS, package, Some(user), None),
                    change(PACKAGERS, package, Some(user), None),
                ]
            } else {
                vec![
                    change(COMMITTERS, package, None, Some(user)),
                    change(PACKAGERS, package, Some(user), None),
                ]
            }
        }
        "user.removed" => {
            let Some(user) = text(body, "removed_user") else {
                return Vec::new();
            };
            vec![
                change(COMMITTERS, package, None, Some(user)),
                change(PACKAGERS, package, None, Some(user)),
            ]
        }
        "group.added" | "group.access.updated" => {
            let Some(group) = text(body, "new_group") else {
                return Vec::new();
            };
            if commits(access) {
                vec![change(GROUP_OWNERS, package, Some(group), None)]
            } else {
                vec![change(GROUP_OWNERS, package, None, Some(group))]
            }
        }
        "group.removed" => {
            let mut groups: Vec<&str> = body
                .get("removed_groups")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            groups.extend(text(body, "removed_group"));
            groups
                .into_iter()
                .map(|g| change(GROUP_OWNERS, package, None, Some(g)))
                .collect()
        }
        _ => Vec::new(),
    }
}

fn membership(event: &str, body: &Value) -> Vec<Change> {
    let (Some(user), Some(group)) = (text(body, "user"), text(body, "group")) else {
        return Vec::new();
    };
    match event {
        // Sponsorship is what makes an applicant a member.
        "sponsor" | "added" => vec![change(GROUPS, user, Some(group), None)],
        "remove" | "removed" => vec![change(GROUPS, user, None, Some(group))],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(topic: &str, body: Value) -> Envelope {
        let line = serde_json::json!({"topic": topic, "body": body}).to_string();
        Envelope::from_bus_json(line.as_bytes(), 1 << 20).unwrap()
    }

    fn project(ns: &str) -> Value {
        serde_json::json!({"name": "nethack", "namespace": ns, "fullname": format!("{ns}/nethack")})
    }

    #[test]
    fn dist_git_access_changes_ownership() {
        let added = env(
            "org.fedoraproject.prod.pagure.project.user.added",
            serde_json::json!({"project": project("rpms"), "new_user": "newu", "access": "commit", "agent": "pingou"}),
        );
        assert_eq!(
            changes(&added),
            [
                change(COMMITTERS, "nethack", Some("newu"), None),
                change(PACKAGERS, "nethack", Some("newu"), None)
            ]
        );
        let ticket = env(
            "pagure.project.user.access.updated",
            serde_json::json!({"project": project("rpms"), "new_user": "newu", "new_access": "ticket"}),
        );
        assert_eq!(
            changes(&ticket)[0],
            change(COMMITTERS, "nethack", None, Some("newu"))
        );
        let removed = env(
            "io.pagure.prod.pagure.project.user.removed",
            serde_json::json!({"project": project("container"), "removed_user": "ralph"}),
        );
        assert_eq!(changes(&removed).len(), 2);
        let group = env(
            "pagure.project.group.added",
            serde_json::json!({"project": project("modules"), "new_group": "python-sig", "access": "admin"}),
        );
        assert_eq!(
            changes(&group),
            [change(GROUP_OWNERS, "nethack", Some("python-sig"), None)]
        );
    }

    #[test]
    fn other_projects_and_messages_change_nothing() {
        let pagure_io = env(
            "io.pagure.prod.pagure.project.user.added",
            serde_json::json!({"project": {"name": "foo", "namespace": null}, "new_user": "ralph"}),
        );
        assert!(changes(&pagure_io).is_empty());
        let infra = env(
            "pagure.project.user.added",
            serde_json::json!({"project": project("fedora-infra"), "new_user": "ralph"}),
        );
        assert!(changes(&infra).is_empty());
        let build = env(
            "org.fedoraproject.prod.buildsys.build.state.change",
            serde_json::json!({"name": "nethack"}),
        );
        assert!(changes(&build).is_empty());
    }

    #[test]
    fn group_membership_from_the_account_system() {
        // The fedmsg body as republished on fedora-messaging, under `msg`.
        let sponsor = env(
            "fas.group.member.sponsor",
            serde_json::json!({"msg": {"agent": "dudemcpants", "user": "testuser", "group": "developers"}}),
        );
        assert_eq!(
            changes(&sponsor),
            [change(GROUPS, "testuser", Some("developers"), None)]
        );
        let removed = env(
            "org.fedoraproject.prod.fas.group.member.remove",
            serde_json::json!({"agent": "toshio", "user": "ralph", "group": "ambassadors"}),
        );
        assert_eq!(
            changes(&removed),
            [change(GROUPS, "ralph", None, Some("ambassadors"))]
        );
        let apply = env(
            "org.fedoraproject.prod.fas.group.member.apply",
            serde_json::json!({"agent": "ralph", "user": "ralph", "group": "ambassadors"}),
        );
        assert!(changes(&apply).is_empty());
    }
}
