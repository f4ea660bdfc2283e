//! The infra, cloud and QA families against their definitions (fedmsg.meta's processors and
//! the schema packages' classes), on messages shaped as those definitions read them.

use fmn_rules::MODULE;
use fmn_rules_sdk::Extracted;
use fmn_rules_sdk::testing::extract;
use serde_json::{Value, json};

fn fedmsg(topic: &str, msg: Value) -> String {
    json!({
        "topic": format!("org.fedoraproject.prod.{topic}"),
        "msg": msg,
        "msg_id": "2019-0d7a2a4c-1d3a-4b62-9bbd-2d1b8b4a9f10",
        "timestamp": 1_560_000_000,
        "i": 1,
        "username": "apache",
    })
    .to_string()
}

fn schema(topic: &str, body: Value) -> String {
    json!({"topic": topic, "body": body}).to_string()
}

fn keys(x: &str, bus: &str) -> Vec<String> {
    match extract(&MODULE, x, bus) {
        Ok(Extracted::Keys(k)) => k,
        other => panic!("{x}: {other:?}"),
    }
}

fn text(x: &str, bus: &str) -> Option<String> {
    match extract(&MODULE, x, bus) {
        Ok(Extracted::Text(t)) => t,
        other => panic!("{x}: {other:?}"),
    }
}

fn faf_body() -> Value {
    json!({
        "components": ["gnome-shell", "mutter"],
        "maintainers": ["fmuellner"],
        "count": 1000,
        "first_occurrence": "2019-04-01",
        "function": "meta_window_get_frame",
        "type": "core",
        "url": "https://retrace.fedoraproject.org/faf/problems/123/",
    })
}

#[test]
fn faf_problem_threshold_names_its_components_as_packages() {
    let bus = fedmsg("faf.problem.threshold1k", faf_body());
    assert_eq!(keys("packages", &bus), ["gnome-shell", "mutter"]);
    assert_eq!(keys("usernames", &bus), ["fmuellner"]);
    assert_eq!(
        text("summary", &bus).as_deref(),
        Some("ABRT problem for package gnome-shell, mutter has reached 1000 occurrences")
    );
    assert_eq!(
        text("link", &bus).as_deref(),
        Some("https://retrace.fedoraproject.org/faf/problems/123/")
    );
    assert_eq!(
        text("icon", &bus).as_deref(),
        Some("https://apps.fedoraproject.org/packages/images/icons/abrt.png")
    );
    assert_eq!(
        text("long_text", &bus).as_deref(),
        Some(
            "Packages: gnome-shell, mutter\nFunction: meta_window_get_frame\n\
             First occurrence: 2019-04-01\nType:     core\nCount:    1000\n\
             URL:      https://retrace.fedoraproject.org/faf/problems/123/\n"
        )
    );
}

#[test]
fn faf_report_threshold_is_a_report() {
    let mut body = faf_body();
    body["function"] = Value::Null;
    let bus = fedmsg("faf.report.threshold10", body);
    assert_eq!(keys("packages", &bus), ["gnome-shell", "mutter"]);
    assert_eq!(
        text("summary", &bus).as_deref(),
        Some("ABRT report for package gnome-shell, mutter has reached 1000 occurrences")
    );
    let long = text("long_text", &bus).unwrap_or_default();
    assert!(long.contains("Function: None\n"), "{long}");
}

#[test]
fn kerneltest_fedmsg_names_the_kernel_and_the_tester() {
    let bus = fedmsg(
        "kerneltest.upload.new",
        json!({"agent": "jforbes", "test": {
            "kernel_version": "3.16.0-0.rc3.git3.1.fc21.x86_64", "result": "PASS",
            "tester": "jforbes"}}),
    );
    assert_eq!(keys("packages", &bus), ["kernel"]);
    assert_eq!(keys("usernames", &bus), ["jforbes"]);
    assert_eq!(text("agent", &bus).as_deref(), Some("jforbes"));
    assert_eq!(
        text("summary", &bus).as_deref(),
        Some("jforbes ran a test of 3.16.0-0.rc3.git3.1.fc21.x86_64 (PASS)")
    );
    assert_eq!(
        text("link", &bus).as_deref(),
        Some("https://apps.fedoraproject.org/kerneltest/kernel/3.16.0-0.rc3.git3.1.fc21.x86_64")
    );
    assert_eq!(
        text("icon", &bus).as_deref(),
        Some("https://apps.fedoraproject.org/img/icons/tux.png")
    );
    let release = fedmsg(
        "kerneltest.release.new",
        json!({"agent": "jforbes", "release": {"releasenum": 21, "support": "TEST"}}),
    );
    assert_eq!(keys("packages", &release), ["kernel"]);
    assert_eq!(
        text("summary", &release).as_deref(),
        Some("jforbes added a new release for kerneltest: 21 TEST")
    );
    assert_eq!(
        text("link", &release).as_deref(),
        Some("https://apps.fedoraproject.org/kerneltest/stats")
    );
}

/// kerneltest-messages' classes name no package and no user (their tests say so); only the
/// agent and the sentence.
#[test]
fn kerneltest_messages_follow_their_classes() {
    let bus = schema(
        "kerneltest.release.edit",
        json!({"agent": "jforbes", "release": {"releasenum": 40, "support": "RELEASE"}}),
    );
    assert!(keys("packages", &bus).is_empty());
    assert!(keys("usernames", &bus).is_empty());
    assert_eq!(text("agent", &bus).as_deref(), Some("jforbes"));
    assert_eq!(
        text("summary", &bus).as_deref(),
        Some("jforbes edited release 40 with status RELEASE")
    );
    assert_eq!(text("link", &bus), None);
}

#[test]
fn mirrormanager_v1_and_site_messages() {
    let bus = schema(
        "mirrormanager.host.added",
        json!({"site_id": 12, "host_id": 4, "bandwidth": null, "asn": null}),
    );
    assert_eq!(
        text("summary", &bus).as_deref(),
        Some("Host on site 12 has been added")
    );
    assert_eq!(
        text("long_text", &bus).as_deref(),
        Some("Host on site 12 has been added")
    );
    let v2 = schema(
        "org.fedoraproject.prod.mirrormanager.host.updated.v2",
        json!({"agent": "alice", "host": {"id": 1, "name": "m.example.org", "country": "FR",
               "bandwidth": 100.5, "asn": null, "url": "https://mm/host/1"},
               "site": {"id": 2, "name": "Example", "org_url": null, "admins": ["bob"]}}),
    );
    assert_eq!(keys("usernames", &v2), ["alice", "bob"]);
    assert_eq!(
        text("long_text", &v2).as_deref(),
        Some("Host name: m.example.org\nCountry: FR\nBandwitdh: 100.5\nSite: Example\n")
    );
    assert_eq!(text("link", &v2).as_deref(), Some("https://mm/host/1"));
}

#[test]
fn image_uploader_names_itself_and_gcp() {
    let bus = schema(
        "fedora_image_uploader.published.v1.gcp",
        json!({"architecture": "x86_64", "compose_id": "Fedora-40-20240501.n.0",
               "family": "fedora-cloud-40", "image_name": "fedora-cloud-40-x86-64",
               "image_url": "https://gcp/img"}),
    );
    assert_eq!(
        text("app_name", &bus).as_deref(),
        Some("fedora-image-uploader")
    );
    assert_eq!(
        text("summary", &bus).as_deref(),
        Some(
            "fedora-image-uploader published the x86_64 image from compose \
             Fedora-40-20240501.n.0 to the fedora-cloud-40 family in Google Cloud Platform"
        )
    );
}

#[test]
fn ansible_schema_summary_keeps_the_playbook_path() {
    let bus = schema(
        "ansible.playbook.start",
        json!({"userid": "kevin", "playbook": "/srv/web/infra/ansible/playbooks/x.yml",
               "playbook_checksum": "abc"}),
    );
    assert_eq!(
        text("summary", &bus).as_deref(),
        Some("kevin started an ansible run of /srv/web/infra/ansible/playbooks/x.yml")
    );
    assert_eq!(text("agent", &bus), None);
    assert_eq!(keys("usernames", &bus), ["kevin"]);
    let old = fedmsg(
        "ansible.playbook.start",
        json!({"userid": "kevin", "playbook": "/srv/web/infra/ansible/playbooks/x.yml"}),
    );
    assert_eq!(
        text("summary", &old).as_deref(),
        Some("kevin started an ansible run of playbooks/x.yml")
    );
    assert_eq!(text("agent", &old).as_deref(), Some("kevin"));
}

#[test]
fn mdapi_schema_names_no_packages() {
    let bus = schema(
        "mdapi.repo.update",
        json!({"name": "rawhide", "packages": ["a", "b"], "url": "x"}),
    );
    assert!(keys("packages", &bus).is_empty());
    assert_eq!(
        text("summary", &bus).as_deref(),
        Some("MDAPI updated repo rawhide with new details for 2 packages")
    );
    assert_eq!(
        text("long_text", &bus).as_deref(),
        Some("MDAPI updated repo rawhide with new details for the packages: a, b")
    );
}
