//! Kernel Test, results of kernel tests.

use fmn_rules_sdk::topic_rules;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// Kernel Test: an admin edits a release.
        kerneltest_release_edit => ["*kerneltest.release.edit"],
        /// Kernel Test: an admin sets up a release.
        kerneltest_release_new => ["*kerneltest.release.new"],
        /// Kernel Test: a new test result is uploaded.
        kerneltest_upload_new => ["*kerneltest.upload.new"],
    }
}
