//! pkgdb2, the former package database.

use fmn_rules_sdk::{Message, RuleDef, rule, rules, topic_rules};

use super::is;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// pkgdb: a package's ACL is updated.
        pkgdb_acl_update => ["*pkgdb.acl.update"],
        /// pkgdb: a package's ACL is deleted.
        pkgdb_acl_delete => ["*pkgdb.acl.delete"],
        /// pkgdb: an admin updates the status of an admin action.
        pkgdb_admin_action_status_update => ["*pkgdb.admin.action.status.update"],
        /// pkgdb: the branching of a package completes.
        pkgdb_branch_complete => ["*pkgdb.branch.complete"],
        /// pkgdb: the branching of a package starts.
        pkgdb_branch_start => ["*pkgdb.branch.start"],
        /// pkgdb: an admin creates a collection.
        pkgdb_collection_new => ["*pkgdb.collection.new"],
        /// pkgdb: an admin updates a collection.
        pkgdb_collection_update => ["*pkgdb.collection.update"],
        /// pkgdb: the owner of a package changes (orphaning included).
        pkgdb_owner_update => ["*pkgdb.owner.update"],
        /// pkgdb: an admin deletes a branch of a package.
        pkgdb_package_branch_delete => ["*pkgdb.package.branch.delete"],
        /// pkgdb: a branch of a package is created.
        pkgdb_package_branch_new => ["*pkgdb.package.branch.new"],
        /// pkgdb: someone requests a new branch of a package.
        pkgdb_package_branch_request => ["*pkgdb.package.branch.request"],
        /// pkgdb: a package is created (near the end of a package review).
        pkgdb_package_new => ["*pkgdb.package.new"],
        /// pkgdb: a package's critical-path flag changes.
        pkgdb_package_critpath_update => ["*pkgdb.package.critpath.update"],
        /// pkgdb: an admin deletes a package.
        pkgdb_package_delete => ["*pkgdb.package.delete"],
        /// pkgdb: the upstream-release monitoring of a package changes.
        pkgdb_package_monitor_update => ["*pkgdb.package.monitor.update"],
        /// pkgdb: someone requests a new package.
        pkgdb_package_new_request => ["*pkgdb.package.new.request"],
        /// pkgdb: a package's details change.
        pkgdb_package_update => ["*pkgdb.package.update"],
        /// pkgdb: a package's status changes.
        pkgdb_package_update_status => ["*pkgdb.package.update.status"],
    }
}

/// The rules that look inside the message.
pub const RULES: &[RuleDef] = rules![pkgdb_catchall];

/// pkgdb: every event (ACL changes, new packages, ownership requests, ...).
#[rule(topics = ["*pkgdb.*"])]
pub fn pkgdb_catchall(msg: &Message) -> bool {
    is(msg, "pkgdb")
}
