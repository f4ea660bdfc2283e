//! Fedimg, cloud image uploads and tests.

use fmn_rules_sdk::{Message, RuleDef, rule, rules, topic_rules};

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// Fedimg: an image test changes state (started, completed or failed).
        fedimg_image_test_state => ["*fedimg.image.test"],
        /// Fedimg: an image upload changes state (started, completed or failed).
        fedimg_image_upload_state => ["*fedimg.image.upload"],
    }
}

/// The rules that look inside the message.
pub const RULES: &[RuleDef] = rules![
    fedimg_image_test_started,
    fedimg_image_test_completed,
    fedimg_image_test_failed,
    fedimg_image_upload_started,
    fedimg_image_upload_completed,
    fedimg_image_upload_failed,
];

fn state(msg: &Message, what: &str, status: &str) -> bool {
    msg.topic().ends_with(what) && msg.str_at(&["status"]) == Some(status)
}

/// Fedimg: an image test starts.
#[rule(topics = ["*fedimg.image.test"])]
pub fn fedimg_image_test_started(msg: &Message) -> bool {
    state(msg, "fedimg.image.test", "started")
}

/// Fedimg: an image test completes.
#[rule(topics = ["*fedimg.image.test"])]
pub fn fedimg_image_test_completed(msg: &Message) -> bool {
    state(msg, "fedimg.image.test", "completed")
}

/// Fedimg: an image test fails.
#[rule(topics = ["*fedimg.image.test"])]
pub fn fedimg_image_test_failed(msg: &Message) -> bool {
    state(msg, "fedimg.image.test", "failed")
}

/// Fedimg: an image upload starts.
#[rule(topics = ["*fedimg.image.upload"])]
pub fn fedimg_image_upload_started(msg: &Message) -> bool {
    state(msg, "fedimg.image.upload", "started")
}

/// Fedimg: an image upload completes.
#[rule(topics = ["*fedimg.image.upload"])]
pub fn fedimg_image_upload_completed(msg: &Message) -> bool {
    state(msg, "fedimg.image.upload", "completed")
}

/// Fedimg: an image upload fails.
#[rule(topics = ["*fedimg.image.upload"])]
pub fn fedimg_image_upload_failed(msg: &Message) -> bool {
    state(msg, "fedimg.image.upload", "failed")
}
