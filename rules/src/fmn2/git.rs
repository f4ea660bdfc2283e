//! dist-git, the packages' git repositories.

use fmn_rules_sdk::{Message, RuleDef, rule, rules, topic_rules};

use super::is;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// dist-git: a new branch of a package's repository.
        git_branch => ["*.git.branch"],
        /// dist-git: new sources uploaded to the lookaside cache (`fedpkg new-sources`).
        git_lookaside_new => ["*git.lookaside.new"],
        /// dist-git: a mass branch by `pkgdb2branch` completes.
        git_mass_branch_complete => ["*git.mass_branch.complete"],
        /// dist-git: a mass branch of all packages by `pkgdb2branch` starts.
        git_mass_branch_start => ["*git.mass_branch.start"],
        /// dist-git: a `pkgdb2branch` run (new packages or branches) completes.
        git_pkgdb2branch_complete => ["*git.pkgdb2branch.complete"],
        /// dist-git: a `pkgdb2branch` run (new packages or branches) starts.
        git_pkgdb2branch_start => ["*git.pkgdb2branch.start"],
        /// dist-git: someone pushes to a package's repository (`fedpkg push`). Only dist-git's
        /// own topic, as in FMN: pushes to pagure.io (`io.pagure.*.git.receive`) or to
        /// dist-git's pagure (`*.pagure.git.receive`) are other events.
        git_receive => [
            "org.fedoraproject.prod.git.receive",
            "org.fedoraproject.stg.git.receive",
            "org.fedoraproject.dev.git.receive",
            "git.receive",
        ],
        /// dist-git: a new package repository is created.
        git_repo_new => ["org.fedoraproject.*pagure.project.new"],
    }
}

/// The rules that look inside the message.
pub const RULES: &[RuleDef] = rules![git_catchall];

/// dist-git: every event.
#[rule(topics = ["*git.*"])]
pub fn git_catchall(msg: &Message) -> bool {
    is(msg, "git")
}
