//! The metadata of koji, copr, pkgdb, anitya, the-new-hotness, CI and happiness-packet
//! messages agrees with their definitions (fedmsg.meta's processors, the schema classes):
//! one test per bug found, on a message that shows it.

use fmn_rules::MODULE;
use fmn_rules_sdk::Extracted;
use fmn_rules_sdk::testing::extract;
use serde_json::{Value, json};

fn keys(extractor: &str, bus: &Value) -> Vec<String> {
    match extract(&MODULE, extractor, &bus.to_string()) {
        Ok(Extracted::Keys(k)) => k,
        other => panic!("{extractor}: {other:?}"),
    }
}

fn text(extractor: &str, bus: &Value) -> Option<String> {
    match extract(&MODULE, extractor, &bus.to_string()) {
        Ok(Extracted::Text(t)) => t,
        other => panic!("{extractor}: {other:?}"),
    }
}

fn fedmsg(topic: &str, msg: Value) -> Value {
    json!({"topic": format!("org.fedoraproject.prod.{topic}"), "msg_id": "2024-x", "msg": msg})
}

fn schema(topic: &str, body: Value) -> Value {
    json!({"topic": topic, "body": body})
}

#[test]
fn koji_package_list_change_names_its_package() {
    let m = fedmsg(
        "buildsys.package.list.change",
        json!({"package": "rust-dua-cli", "tag": "f31-build-side-20267", "owner": "releng"}),
    );
    assert_eq!(keys("packages", &m), ["rust-dua-cli"]);
    assert_eq!(
        text("summary", &m).as_deref(),
        Some("Package list change for rust-dua-cli:  'f31-build-side-20267'")
    );
    let m = schema(
        "buildsys.package.list.change",
        json!({"package": "rust-dua-cli", "tag": "f31-build", "owner": "releng"}),
    );
    assert_eq!(keys("packages", &m), ["rust-dua-cli"]);
    assert_eq!(text("agent", &m).as_deref(), Some("releng"));
}

#[test]
fn koji_rpm_sign_names_its_package() {
    // The older body keeps the RPM under `rpm` and the key beside it.
    let m = fedmsg(
        "buildsys.rpm.sign",
        json!({"sigkey": "fd431d51", "rpm": {"name": "nethack", "version": "3.6.6",
               "release": "1.fc33", "arch": "x86_64", "build_id": 42}}),
    );
    assert_eq!(keys("packages", &m), ["nethack"]);
    assert_eq!(
        text("link", &m).as_deref(),
        Some("http://koji.fedoraproject.org/koji/buildinfo?buildID=42")
    );
    let m = schema(
        "buildsys.rpm.sign",
        json!({"sigkey": "fd431d51", "rpm": {"name": "nethack-doc", "version": "3.6.6",
               "release": "1.fc33"}, "build": {"name": "nethack", "owner_name": "bob"}}),
    );
    assert_eq!(keys("packages", &m), ["nethack"]);
    assert_eq!(
        text("summary", &m).as_deref(),
        Some("rpm nethack-doc-3.6.6-1.fc33 was signed")
    );
    assert_eq!(text("app_name", &m).as_deref(), Some("Koji"));
    assert_eq!(
        text("icon", &m).as_deref(),
        Some("https://apps.fedoraproject.org/img/icons/koji.png")
    );
}

#[test]
fn koji_build_without_owner_drops_the_possessive() {
    let m = fedmsg(
        "buildsys.build.state.change",
        json!({"name": "eclipse-ptp", "version": "6.0.3", "release": "1.fc19", "new": 0,
               "owner": null, "build_id": 7}),
    );
    assert_eq!(
        text("summary", &m).as_deref(),
        Some("eclipse-ptp-6.0.3-1.fc19 started building")
    );
}

#[test]
fn koji_build_text_lists_the_build_and_its_task() {
    let m = schema(
        "buildsys.build.state.change",
        json!({"name": "chromium", "version": "80", "release": "1.fc33", "new": 1, "old": 0,
               "owner": "spot", "build_id": 1, "creation_time": "2023-06-09T07:16:27.8+00:00",
               "completion_time": null, "task": null}),
    );
    assert_eq!(
        text("long_text", &m).as_deref(),
        Some(
            "Package:    chromium-80-1.fc33\nStatus:     complete\nBuilt by:   spot\nID:         1\nStarted:    Fri, 09 Jun 2023 07:16:27 UTC\nFinished:   (still running)\n\nBuild imported into koji\n"
        )
    );
    // A completed build's owner did not act: koji did.
    assert_eq!(text("agent", &m), None);
}

#[test]
fn anitya_new_mapping_names_its_package() {
    let m = json!({"topic": "org.release-monitoring.prod.anitya.project.map.new", "msg_id": "x",
        "msg": {"project": {"id": 5, "name": "nethack"}, "distro": {"name": "Fedora"},
                "message": {"agent": "http://ralph.id.fedoraproject.org/", "new": "nethack",
                            "distro": "Fedora", "project": "nethack"}}});
    assert_eq!(keys("packages", &m), ["nethack"]);
    assert_eq!(keys("usernames", &m), ["ralph"]);
    assert_eq!(
        text("summary", &m).as_deref(),
        Some("ralph mapped the name of \"nethack\" in Fedora to \"nethack\"")
    );
    let m = schema(
        "org.release-monitoring.prod.anitya.project.map.new",
        json!({"project": {"id": 5, "name": "nethack"}, "distro": {"name": "Fedora"},
               "message": {"agent": "ralph", "new": "nethack-ng"}}),
    );
    assert_eq!(keys("packages", &m), ["nethack-ng"]);
    assert_eq!(
        text("summary", &m).as_deref(),
        Some("A new mapping was created for project nethack in release-monitoring.")
    );
}

#[test]
fn hotness_followup_names_the_build_and_its_owner() {
    let m = fedmsg(
        "hotness.update.bug.followup",
        json!({"bug": {"bug_id": 1234}, "trigger": {
            "topic": "org.fedoraproject.prod.buildsys.build.state.change",
            "msg": {"name": "nethack", "version": "3.6.7", "release": "1.fc40", "new": 1,
                    "owner": "bob"}}}),
    );
    assert_eq!(keys("packages", &m), ["nethack"]);
    assert_eq!(keys("usernames", &m), ["bob"]);
    assert_eq!(
        text("summary", &m).as_deref(),
        Some("bob's real build of nethack-3.6.7-1.fc40 for RHBZ#1234 completed")
    );
    assert_eq!(
        text("link", &m).as_deref(),
        Some("https://bugzilla.redhat.com/show_bug.cgi?id=1234")
    );
}

#[test]
fn hotness_schema_bug_file_says_where_the_bug_is() {
    let m = schema(
        "hotness.update.bug.file",
        json!({"bug": {"bug_id": 99}, "trigger": {"topic": "anitya.project.version.update",
               "msg": {"message": {"packages": [{"distro": "Fedora", "package_name": "a"},
                                                {"distro": "Debian", "package_name": "b"}]}}}}),
    );
    assert_eq!(keys("packages", &m), ["a"]);
    assert_eq!(
        text("long_text", &m).as_deref(),
        Some("The New Hotness filed a bug on 'a'\nhttps://bugzilla.redhat.com/99\n")
    );
}

#[test]
fn pkgdb_acl_delete_names_package_people_and_rights() {
    let m = fedmsg(
        "pkgdb.acl.delete",
        json!({"agent": "ausil", "acl": {"acl": "commit", "fas_name": "awjb", "status": "Approved",
               "packagelist": {"package": {"name": "nethack", "namespace": "rpms"},
                               "collection": {"branchname": "f20"}}}}),
    );
    assert_eq!(keys("packages", &m), ["nethack"]);
    assert_eq!(keys("usernames", &m), ["ausil", "awjb"]);
    assert_eq!(
        text("summary", &m).as_deref(),
        Some("ausil deleted awjb's commit rights from rpms/nethack (f20)")
    );
}

#[test]
fn pkgdb_acl_update_names_who_changed_the_acl() {
    let m = fedmsg(
        "pkgdb.acl.update",
        json!({"agent": "ralph", "username": "bob", "acl": "commit", "status": "Approved",
               "package_listing": {"package": {"name": "nethack"},
                                   "collection": {"branchname": "master"}}}),
    );
    assert_eq!(keys("usernames", &m), ["bob", "ralph"]);
    assert_eq!(text("agent", &m).as_deref(), Some("ralph"));
    assert_eq!(
        text("summary", &m).as_deref(),
        Some("ralph changed bob's 'commit' permission on rpms/nethack (master) to 'Approved'")
    );
    assert_eq!(
        text("link", &m).as_deref(),
        Some("https://admin.fedoraproject.org/pkgdb/package/rpms/nethack/")
    );
}

/// fedmsg.meta asked about one namespace; fmn keys the packages of every namespace by their
/// bare name, so a container's package is a package too.
#[test]
fn pkgdb_names_packages_of_every_namespace() {
    let m = fedmsg(
        "pkgdb.package.update",
        json!({"agent": "ralph", "package": {"name": "httpd", "namespace": "docker"},
               "fields": ["summary"]}),
    );
    assert_eq!(keys("packages", &m), ["httpd"]);
    assert_eq!(
        text("summary", &m).as_deref(),
        Some("ralph updated: summary of docker/httpd")
    );
}

#[test]
fn ci_messages_summarise_artifact_event_and_status() {
    let m = schema(
        "org.centos.prod.ci.koji-build.test.complete",
        json!({"artifact": {"nvr": "nethack-3.6.7-1.fc40", "id": 5}, "test": {"type": "tier0"},
               "run": {"url": "https://jenkins/run/1"}}),
    );
    assert_eq!(
        text("summary", &m).as_deref(),
        Some("CI: tier0 test of koji-build nethack-3.6.7-1.fc40 finished")
    );
    assert_eq!(text("link", &m).as_deref(), Some("https://jenkins/run/1"));
}

#[test]
fn centos_ci_pipeline_names_its_stage() {
    let m = json!({"topic": "org.centos.prod.ci.pipeline.allpackages-build.package.running",
        "msg_id": "x", "msg": {"rev": "kojitask-123", "repo": "nethack", "namespace": "rpms",
        "branch": "f40", "status": "SUCCESS", "username": "fedora-atomic"}});
    assert_eq!(
        text("summary", &m).as_deref(),
        Some(
            "Koji task 123 of package rpms/nethack is being built in the All Packages (Build) CI pipeline on branch f40"
        )
    );
    assert_eq!(text("link", &m).as_deref(), Some("http://ci.centos.org/"));
}

#[test]
fn happiness_packets_name_sender_and_recipient() {
    let m = schema(
        "happinesspacket.send",
        json!({"id": "1", "sender": "alice", "recipient": "bob"}),
    );
    assert_eq!(keys("usernames", &m), ["alice", "bob"]);
    assert_eq!(text("summary", &m).as_deref(), Some("alice, bob"));
    let m = schema(
        "happinesspacket.send",
        json!({"id": "1", "sender": "Anonymous", "recipient": "bob"}),
    );
    assert_eq!(keys("usernames", &m), ["bob"]);
    assert_eq!(
        text("long_text", &m).as_deref(),
        Some("Anonymous sent a happiness packet to bob")
    );
}
