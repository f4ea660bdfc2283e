//! Autocloud, tests of cloud images.

use fmn_rules_sdk::topic_rules;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// Autocloud: a compose is queued for testing.
        autocloud_compose_test_queued => ["*autocloud.compose.queued"],
        /// Autocloud: the tests of a compose are running.
        autocloud_compose_test_running => ["*autocloud.compose.running"],
        /// Autocloud: the tests of a compose are done.
        autocloud_compose_test_completed => ["*autocloud.compose.complete"],
        /// Autocloud: the tests of an image fail.
        autocloud_image_test_failed => ["*autocloud.image.failed"],
        /// Autocloud: an image is queued for testing.
        autocloud_image_test_queued => ["*autocloud.image.queued"],
        /// Autocloud: the tests of an image are running.
        autocloud_image_test_running => ["*autocloud.image.running"],
        /// Autocloud: the tests of an image pass.
        autocloud_image_test_success => ["*autocloud.image.success"],
    }
}
