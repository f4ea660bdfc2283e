//! A rule author outside fmn's source tree: the SDK packaged as it would be published, a crate
//! scaffolded by `fmn rules new` in a folder of its own, tested natively, built to wasm from
//! another folder, checked with `fmn rules test`, published to a running worker, and a
//! matching message notifying a user by email.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use fmn_core::ChannelKind;
use fmn_transport::Registry;

use crate::cli::{configured, fmn, run, spawn, terminate, text};
use crate::reload::{all_notifications, processed};
use crate::support::{RedisServer, SmtpSink, root, wait_until};

/// Ralph follows failed builds of nethack with the new module's rule.
const RALPH: &str = r#"[users.ralph.channels.email]
addresses = ["ralph@example.org"]

[[users.ralph.channels.email.filters]]
name = "nethack failed"
rules = [{ rule = "my_rules::package_build_failed", args = { package = "nethack" } }]
"#;

/// A koji build of nethack by ralph, in state `state` (3: failed, 1: completed).
fn build_message(id: &str, state: u8) -> String {
    format!(
        r#"{{"topic": "org.fedoraproject.prod.buildsys.build.state.change", "msg_id": "{id}", "msg": {{"owner": "ralph", "name": "nethack", "new": {state}}}}}"#
    )
}

/// Cargo, offline (the test needs no network: every crate is in the local cache), building
/// into `target`.
fn cargo(target: &Path) -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.env("CARGO_NET_OFFLINE", "true")
        .env("CARGO_TARGET_DIR", target);
    c
}

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

/// The SDK's crates as `cargo package` makes them for crates.io, unpacked into `into`: what
/// an author gets from the registry, with no path into fmn's tree left in their manifests.
fn packaged_sdk(work: &Path, into: &Path) {
    let target = work.join("package-target");
    ok(cargo(&target)
        .args(["package", "--no-verify", "--allow-dirty", "--locked"])
        .args([
            "-p",
            "fmn-rules-sdk-macros",
            "-p",
            "fmn-core",
            "-p",
            "fmn-rules-sdk",
        ])
        .current_dir(root())
        .output()
        .unwrap());
    std::fs::create_dir_all(into).unwrap();
    for krate in ["fmn-rules-sdk-macros", "fmn-core", "fmn-rules-sdk"] {
        let file = target
            .join("package")
            .join(format!("{krate}-{}.crate", env!("CARGO_PKG_VERSION")));
        ok(Command::new("tar")
            .arg("xzf")
            .arg(&file)
            .arg("-C")
            .arg(into)
            .output()
            .unwrap());
    }
    for manifest in ["fmn-core", "fmn-rules-sdk"] {
        let dir = into.join(format!("{manifest}-{}", env!("CARGO_PKG_VERSION")));
        let text = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let manifest: toml::Table = toml::from_str(&text).unwrap();
        for (name, dep) in manifest["dependencies"].as_table().unwrap() {
            assert!(dep.get("path").is_none(), "{manifest}: {name} by path");
        }
    }
}

/// `fmn rules new` with the packaged SDK: the crate depends on the SDK by version and patches
/// it to the unpacked crates.
fn scaffold(sdk: &Path, krate: &Path) {
    let out = ok(run(fmn()
        .args(["rules", "new", "my-rules", "--path"])
        .arg(krate)
        .arg("--sdk")
        .arg(sdk)));
    assert!(
        text(&out.stdout).contains("fmn-rules-sdk 0.1.0 from"),
        "{}",
        text(&out.stdout)
    );
    let manifest = std::fs::read_to_string(krate.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("fmn-rules-sdk = \"0.1.0\""), "{manifest}");
    assert!(manifest.contains("[patch.crates-io]"), "{manifest}");
    assert!(!manifest.contains(root().to_str().unwrap()), "{manifest}");
}

/// `fmn rules build PATH` run from another folder; the module file.
fn build_elsewhere(work: &Path, target: &Path) -> PathBuf {
    let elsewhere = work.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let out = ok(run(fmn()
        .args(["rules", "build", "../authors/my-rules", "-o", "my.wasm"])
        .env("CARGO_NET_OFFLINE", "true")
        .env("CARGO_TARGET_DIR", target)
        .current_dir(&elsewhere)));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(
            "module my_rules (ABI 1, fmn-rules-sdk 0.1.0) with 2 rules, 1 extractors; 4 samples hold"
        ),
        "{stdout}"
    );
    elsewhere.join("my.wasm")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_written_outside_the_tree_notifies_a_user_through_a_running_worker() {
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let sdk = work.join("sdk");
    packaged_sdk(work, &sdk);
    let krate = work.join("authors/my-rules");
    scaffold(&sdk, &krate);
    let target = work.join("target");
    let out = ok(cargo(&target)
        .arg("test")
        .current_dir(&krate)
        .output()
        .unwrap());
    assert!(
        text(&out.stdout).contains("test result: ok. 2 passed"),
        "{}",
        text(&out.stdout)
    );
    let wasm = build_elsewhere(work, &target);
    rules_test_reports(work, &wasm);

    let redis = RedisServer::start();
    let smtp = SmtpSink::start();
    let with = configured(
        work,
        &format!(
            "[redis]\nurl = \"{}\"\n\n[worker]\nprefs_from = \"redis\"\nreload_ms = 200\ntimeout_ms = 5000\n\n\
             [senders.email]\nbackend = \"smtp\"\nhost = \"127.0.0.1\"\nport = {}\nfrom = \"fmn <fmn@example.org>\"\n",
            redis.url(),
            smtp.port
        ),
    );
    let worker = spawn(&mut with(&["worker"]));
    let transport = redis.transport().await;
    wait_until(Duration::from_secs(60), "a live worker", async || {
        transport.live_workers().await.unwrap().len() == 1
    })
    .await;
    let out = ok(run(&mut with(&[
        "rules",
        "publish",
        wasm.to_str().unwrap(),
    ])));
    assert!(
        text(&out.stdout).contains(": runs it (generation 2)"),
        "{}",
        text(&out.stdout)
    );

    // Ralph follows failed builds of nethack with the new module's rule: accepted now that
    // the workers run it.
    std::fs::write(work.join("ralph.toml"), RALPH).unwrap();
    ok(run(&mut with(&[
        "prefs",
        "set",
        "ralph",
        "--file",
        "ralph.toml",
    ])));
    let messages = work.join("m.jsonl");
    std::fs::write(
        &messages,
        [build_message("failed-1", 3), build_message("done-1", 1)].join("\n"),
    )
    .unwrap();
    ok(run(&mut with(&[
        "consume",
        "--messages",
        messages.to_str().unwrap(),
    ])));
    wait_until(
        Duration::from_secs(60),
        "both messages processed",
        async || processed(&transport).await >= 2,
    )
    .await;
    let notified: Vec<_> = all_notifications(&redis.url())
        .await
        .into_iter()
        .map(|n| (n.user, n.channel, n.message.id))
        .collect();
    assert_eq!(
        notified,
        [(
            "ralph".to_owned(),
            ChannelKind::Email,
            "failed-1".to_owned()
        )],
        "the failed build notifies ralph; the completed one nobody"
    );
    let sender = spawn(&mut with(&["send", "--channel", "email"]));
    wait_until(Duration::from_secs(60), "ralph's email", async || {
        !smtp.mails().is_empty()
    })
    .await;
    let out = terminate(sender);
    assert!(
        text(&out.stderr).contains("fmn send: 1 sent"),
        "{}",
        text(&out.stderr)
    );
    let mails = smtp.mails();
    assert_eq!(mails[0].rcpt_tos, ["ralph@example.org"]);
    let id = fmn_core::delivery_id("failed-1", "ralph", ChannelKind::Email);
    assert!(mails[0].header("Message-ID").unwrap().contains(&id));
    assert!(terminate(worker).status.success());
    broken_samples_refused(&krate, &target);
}

/// `fmn rules test` over a few messages: each rule that needs no arguments alone, then one
/// rule with arguments; an unreadable line is a problem found, bad arguments an error.
fn rules_test_reports(work: &Path, wasm: &Path) {
    let messages = work.join("m.jsonl");
    std::fs::write(
        &messages,
        [
            build_message("a", 3),
            build_message("b", 1),
            r#"{"topic": "org.fedoraproject.prod.bodhi.update.comment", "msg_id": "c", "msg": {"new": 3}}"#.to_owned(),
        ]
        .join("\n"),
    )
    .unwrap();
    let test = |extra: &[&str]| -> serde_json::Value {
        let out = run(fmn()
            .args(["rules", "test"])
            .arg(wasm)
            .arg("--messages")
            .arg(&messages)
            .args(extra)
            .arg("--json"));
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let r = test(&[]);
    assert_eq!(r["messages"], 3);
    assert_eq!(r["matches"], serde_json::json!({"build_failed": 1}));
    assert_eq!(r["untested"], serde_json::json!(["package_build_failed"]));
    assert_eq!(r["results"][0]["id"], "a");
    assert_eq!(
        r["results"][0]["extracted"]["owners"],
        serde_json::json!(["ralph"])
    );
    for (package, matches) in [("nethack", 1), ("other", 0)] {
        let args = format!(r#"{{"package": "{package}"}}"#);
        let r = test(&["--rule", "package_build_failed", "--args", &args]);
        let expected = serde_json::json!({ "package_build_failed": matches });
        assert_eq!(r["matches"], expected, "{package}");
    }
    // Who real preferences would have notified: ralph, of the failed nethack build only.
    std::fs::write(work.join("prefs.toml"), RALPH).unwrap();
    let r = test(&["--prefs", work.join("prefs.toml").to_str().unwrap()]);
    let notify: Vec<_> = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["id"].clone(), m["notify"].clone()))
        .collect();
    let ralph =
        serde_json::json!([{"user": "ralph", "channel": "email", "filter": "nethack failed"}]);
    assert_eq!(notify, [(serde_json::json!("a"), ralph)]);
    assert_eq!(r["notified"], serde_json::json!({"ralph": 1}));
    // A line that is not a bus message is a problem found: exit code 2, the line named.
    let with_bad = work.join("with-bad.jsonl");
    std::fs::write(
        &with_bad,
        format!(
            "{}\nnot json\n",
            std::fs::read_to_string(&messages).unwrap()
        ),
    )
    .unwrap();
    let out = run(fmn()
        .args(["rules", "test"])
        .arg(wasm)
        .arg("--messages")
        .arg(&with_bad)
        .arg("--json"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["messages"], 3);
    let unreadable = r["unreadable"].as_array().unwrap();
    assert_eq!(unreadable.len(), 1);
    assert!(
        unreadable[0]
            .as_str()
            .unwrap()
            .contains("with-bad.jsonl:4: "),
        "{r}"
    );
    let out = run(fmn()
        .args(["rules", "test"])
        .arg(wasm)
        .arg("--messages")
        .arg(&messages)
        .args([
            "--rule",
            "package_build_failed",
            "--args",
            r#"{"pkg": "x"}"#,
        ]));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("rule package_build_failed: invalid arguments"),
        "{}",
        text(&out.stderr)
    );
}

/// The rule changes, its samples no longer hold: the module is refused at build.
fn broken_samples_refused(krate: &Path, target: &Path) {
    let lib = krate.join("src/lib.rs");
    let code = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(&lib, code.replace("== Some(3)", "== Some(4)")).unwrap();
    let out = run(fmn()
        .args(["rules", "build"])
        .arg(krate)
        .env("CARGO_NET_OFFLINE", "true")
        .env("CARGO_TARGET_DIR", target));
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "my_rules.wasm: sample #1 of rule build_failed: expected a match on org.fedoraproject.prod.buildsys.build.state.change, got no match"
        ),
        "{stderr}"
    );
}

/// `fmn rules build` where the Rust tools are missing: each error names the fix. The tools are
/// stood in by scripts on an otherwise empty PATH.
#[test]
fn rules_build_names_the_fix_when_rust_tools_are_missing() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let (bin, sysroot, krate) = (
        dir.path().join("bin"),
        dir.path().join("sysroot"),
        dir.path().join("c"),
    );
    for d in [&bin, &sysroot, &krate] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(krate.join("Cargo.toml"), "[package]\nname = \"c\"\n").unwrap();
    let tool = |name: &str, script: &str| {
        let path = bin.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    let build = || {
        let out = run(fmn()
            .args(["rules", "build"])
            .arg(&krate)
            .env_remove("CARGO")
            .env("PATH", &bin));
        assert_eq!(out.status.code(), Some(1));
        text(&out.stderr)
    };
    let e = build();
    assert!(
        e.contains("cannot run rustc") && e.contains("install Rust with rustup"),
        "{e}"
    );

    tool("rustc", &format!("echo {}", sysroot.display()));
    tool("rustup", "exit 1");
    let e = build();
    assert!(
        e.contains(&format!(
            "the wasm32-unknown-unknown target is not installed for the toolchain at {} and rustup could not add it: run `rustup target add wasm32-unknown-unknown`",
            sysroot.display()
        )),
        "{e}"
    );

    std::fs::create_dir_all(sysroot.join("lib/rustlib/wasm32-unknown-unknown")).unwrap();
    let e = build();
    assert!(
        e.contains("cannot run cargo") && e.contains("install Rust with rustup"),
        "{e}"
    );
}
