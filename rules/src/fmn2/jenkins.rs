//! Fedora's Jenkins (jenkins.cloud.fedoraproject.org).

use fmn_rules_sdk::topic_rules;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// Jenkins: a build is aborted.
        jenkins_build_aborted => ["*jenkins.build.aborted"],
        /// Jenkins: a build fails.
        jenkins_build_failed => ["*jenkins.build.failed"],
        /// Jenkins: a build does not actually build.
        jenkins_build_notbuilt => ["*jenkins.build.notbuilt"],
        /// Jenkins: a build passes.
        jenkins_build_passed => ["*jenkins.build.passed"],
        /// Jenkins: a build starts.
        jenkins_build_start => ["*jenkins.build.start"],
        /// Jenkins: a build completes with warnings.
        jenkins_build_unstable => ["*jenkins.build.unstable"],
    }
}
