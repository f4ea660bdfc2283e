//! The operator's templates: what a mail says comes from the message's metadata through the
//! template file; a template that names an unknown field stops the sender with where it is.

use std::time::Duration;

use fmn_core::{ChannelKind, MessageMeta};
use fmn_transport::WorkQueue;

use crate::cli::{configured, run, spawn, terminate, text};
use crate::retries::{sender_setup, smtp_config};
use crate::support::wait_until;
use crate::transport::notification;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_template_shapes_the_mail_and_a_bad_one_is_refused() {
    let (redis, smtp, dir, transport) = sender_setup(&[]).await;
    let file = dir.path().join("templates.toml");
    std::fs::write(
        &file,
        "[email]\nsubject = \"[{category}] {summary}\"\nbody = \"\"\"\n{agent} acted on {packages}: {summary}\nMore: {link}\nBraces stay: {{x}}\n\"\"\"\n",
    )
    .unwrap();
    let config = format!(
        "{}\n[templates]\nfile = \"{}\"\n",
        smtp_config(&redis, &smtp),
        file.display()
    );
    let with = configured(dir.path(), &config);
    let mut n = notification("tpl-1", ChannelKind::Email);
    n.message.topic = "org.fedoraproject.prod.buildsys.build.state.change".into();
    n.meta = MessageMeta {
        summary: Some("nethack-3.6.7-1.fc40 completed".into()),
        link: Some("https://koji.example.org/build/1".into()),
        usernames: vec!["ralph".into(), "pingou".into()],
        packages: vec!["nethack".into()],
    };
    transport.complete_work("w", &[], &[n]).await.unwrap();
    let sender = spawn(&mut with(&["send", "--channel", "email"]));
    wait_until(Duration::from_secs(30), "the mail", async || {
        !smtp.mails().is_empty()
    })
    .await;
    let out = terminate(sender);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mail = &smtp.mails()[0];
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("[buildsys] nethack-3.6.7-1.fc40 completed")
    );
    let body = mail.body().replace("\r\n", "\n");
    assert!(
        body.starts_with(
            "ralph acted on nethack: nethack-3.6.7-1.fc40 completed\nMore: https://koji.example.org/build/1\nBraces stay: {x}\n\n-- \n"
        ),
        "{body}"
    );
    assert!(
        body.contains("your filter \"f\" matched"),
        "the footer stays: {body}"
    );

    // A misspelt field: the sender does not start, and says where.
    std::fs::write(&file, "[email]\nsubject = \"{sumary}\"\n").unwrap();
    let out = run(&mut with(&["send", "--channel", "email"]));
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("template file {}", file.display()))
            && err.contains("unknown field {sumary} at byte 0")
            && err.contains("line 2, column 11"),
        "{err}"
    );
}
