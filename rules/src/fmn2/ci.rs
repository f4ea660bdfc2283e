//! The Fedora Atomic CI pipeline.
//!
//! FMN's `ci_compose_test_*` rules tested the *package* functional-test topics, against their
//! own documentation; here they test the compose integration-test topics they describe.

use fmn_rules_sdk::{Message, RuleDef, rule, rules, topic_rules};

use super::is;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// CI: the pipeline ignores a package.
        ci_package_ignore => ["*ci.pipeline.package.ignore"],
        /// CI: a package is queued to be built.
        ci_package_queued => ["*ci.pipeline.package.queued"],
        /// CI: a package is being built.
        ci_package_running => ["*ci.pipeline.package.running"],
        /// CI: a package has been built.
        ci_package_complete => ["*ci.pipeline.package.complete"],
        /// CI: a compose is being built.
        ci_compose_running => ["*ci.pipeline.compose.running"],
        /// CI: a compose has been built.
        ci_compose_complete => ["*ci.pipeline.compose.complete"],
        /// CI: an image is being built.
        ci_image_running => ["*ci.pipeline.image.running"],
        /// CI: an image has been built.
        ci_image_complete => ["*ci.pipeline.image.complete"],
        /// CI: functional tests of a package are queued.
        ci_package_test_queued => ["*ci.pipeline.package.test.functional.queued"],
        /// CI: functional tests of a package are running.
        ci_package_test_running => ["*ci.pipeline.package.test.functional.running"],
        /// CI: functional tests of a package are done.
        ci_package_test_complete => ["*ci.pipeline.package.test.functional.complete"],
        /// CI: integration tests of a compose are queued.
        ci_compose_test_queued => ["*ci.pipeline.compose.test.integration.queued"],
        /// CI: integration tests of a compose are running.
        ci_compose_test_running => ["*ci.pipeline.compose.test.integration.running"],
        /// CI: integration tests of a compose are done.
        ci_compose_test_complete => ["*ci.pipeline.compose.test.integration.complete"],
        /// CI: smoke tests of an image are running.
        ci_image_test_running => ["*ci.pipeline.image.test.smoke.running"],
        /// CI: smoke tests of an image are done.
        ci_image_test_complete => ["*ci.pipeline.image.test.smoke.complete"],
    }
}

/// The rules that look inside the message.
pub const RULES: &[RuleDef] = rules![ci_catchall, ci_test_passed, ci_step_complete];

/// CI: every event of the pipeline (builds, composes, images, tests).
#[rule(topics = ["*ci.*"])]
pub fn ci_catchall(msg: &Message) -> bool {
    is(msg, "ci")
}

fn succeeded(msg: &Message) -> bool {
    msg.str_at(&["status"])
        .is_some_and(|s| s.eq_ignore_ascii_case("success"))
}

/// CI: any of its tests passed (package functional, compose integration, image smoke).
#[rule(topics = [
    "*ci.pipeline.package.test.functional.complete",
    "*ci.pipeline.compose.test.integration.complete",
    "*ci.pipeline.image.test.smoke.complete",
])]
pub fn ci_test_passed(msg: &Message) -> bool {
    succeeded(msg)
}

/// CI: any step of the pipeline completed successfully.
#[rule(topics = ["*ci.*"])]
pub fn ci_step_complete(msg: &Message) -> bool {
    is(msg, "ci") && succeeded(msg)
}
