//! Messages the module's rules must (or must not) match; a worker refuses the module if one
//! gives another answer. Written for this purpose (not copied from a corpus).

use fmn_rules_sdk::Sample;

const KOJI_FAILED: &str = r#"{"topic": "org.fedoraproject.prod.buildsys.build.state.change", "msg_id": "sample-1",
  "msg": {"owner": "someone", "name": "nethack", "version": "3.6.7", "release": "1.fc40", "new": 3,
          "old": 0, "build_id": 1, "instance": "primary"}}"#;

const KOJI_DONE_PPC: &str = r#"{"topic": "org.fedoraproject.prod.buildsys.build.state.change", "msg_id": "sample-2",
  "msg": {"owner": "someone", "name": "nethack", "version": "3.6.7", "release": "1.fc40", "new": 1,
          "old": 0, "build_id": 2, "instance": "ppc"}}"#;

const KOJI_TAG: &str = r#"{"topic": "org.fedoraproject.prod.buildsys.tag", "msg_id": "sample-3",
  "msg": {"owner": "someone", "name": "nethack", "version": "3.6.7", "release": "1.fc40",
          "tag": "f40-updates-candidate", "tag_id": 7, "user": "bodhi"}}"#;

const BODHI_COMMENT: &str = r#"{"id": "sample-4", "topic": "org.fedoraproject.prod.bodhi.update.comment",
  "headers": {"sent-at": "2026-01-01T00:00:00+00:00"},
  "body": {"comment": {"user": {"name": "commenter"}, "text": "works for me", "karma": 1,
           "update_title": "nethack-3.6.7-1.fc40"}}}"#;

const TASKOTRON_FAILED: &str = r#"{"topic": "org.fedoraproject.prod.taskotron.result.new", "msg_id": "sample-5",
  "msg": {"task": {"name": "dist.rpmdeplint", "item": "nethack-3.6.7-1.fc40", "type": "koji_build"},
          "result": {"outcome": "FAILED", "prev_outcome": "PASSED"}}}"#;

/// The module's samples.
pub(crate) const SAMPLES: &[Sample] = &[
    Sample {
        rule: "koji_build_failed",
        args: "{}",
        message: KOJI_FAILED,
        matches: true,
    },
    Sample {
        rule: "koji_build_failed",
        args: "{}",
        message: KOJI_DONE_PPC,
        matches: false,
    },
    Sample {
        rule: "koji_build_completed",
        args: "{}",
        message: KOJI_DONE_PPC,
        matches: true,
    },
    Sample {
        rule: "koji_instance",
        args: r#"{"instance": "ppc,s390,arm"}"#,
        message: KOJI_DONE_PPC,
        matches: true,
    },
    Sample {
        rule: "koji_instance",
        args: r#"{"instance": "ppc,s390,arm"}"#,
        message: KOJI_FAILED,
        matches: false,
    },
    Sample {
        rule: "koji_tag",
        args: "{}",
        message: KOJI_TAG,
        matches: true,
    },
    Sample {
        rule: "koji_tag",
        args: "{}",
        message: KOJI_FAILED,
        matches: false,
    },
    Sample {
        rule: "koji_catchall",
        args: "{}",
        message: KOJI_TAG,
        matches: true,
    },
    Sample {
        rule: "package_filter",
        args: r#"{"package": "nethack"}"#,
        message: KOJI_FAILED,
        matches: true,
    },
    Sample {
        rule: "package_filter",
        args: r#"{"package": "vim"}"#,
        message: KOJI_FAILED,
        matches: false,
    },
    Sample {
        rule: "user_filter",
        args: r#"{"fasnick": "someone"}"#,
        message: KOJI_FAILED,
        matches: true,
    },
    Sample {
        rule: "user_filter",
        args: r#"{"fasnick": "commenter"}"#,
        message: BODHI_COMMENT,
        matches: true,
    },
    Sample {
        rule: "bodhi_update_comment",
        args: "{}",
        message: BODHI_COMMENT,
        matches: true,
    },
    Sample {
        rule: "bodhi_catchall",
        args: "{}",
        message: BODHI_COMMENT,
        matches: true,
    },
    Sample {
        rule: "bodhi_catchall",
        args: "{}",
        message: KOJI_FAILED,
        matches: false,
    },
    Sample {
        rule: "taskotron_release_critical_task",
        args: "{}",
        message: TASKOTRON_FAILED,
        matches: true,
    },
    Sample {
        rule: "taskotron_task_particular_or_changed_outcome",
        args: r#"{"outcome": "FAILED"}"#,
        message: TASKOTRON_FAILED,
        matches: true,
    },
    Sample {
        rule: "topic",
        args: r#"{"glob": "*.bodhi.update.*"}"#,
        message: BODHI_COMMENT,
        matches: true,
    },
    Sample {
        rule: "category",
        args: r#"{"category": "bodhi"}"#,
        message: BODHI_COMMENT,
        matches: true,
    },
    Sample {
        rule: "not_user_filter",
        args: r#"{"fasnick": "someone,other"}"#,
        message: KOJI_FAILED,
        matches: false,
    },
];
