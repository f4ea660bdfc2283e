//! The email sender's connection to a real SMTP server (aiosmtpd) that wants TLS, STARTTLS or
//! TLS from the first byte, with a certificate from a test CA given as `ca_file`, and a login.
//! A wrong password or a certificate the sender does not trust loses nothing: the mails wait,
//! the reason is logged, and they go out once the configuration is mended.

use std::path::Path;
use std::time::Duration;

use fmn_core::ChannelKind;
use fmn_transport::{DeadLetters, Outbox, WorkQueue};

use crate::cli::{configured, spawn, terminate, text};
use crate::retries::sender_setup;
use crate::support::{SmtpSink, test_certificates, wait_until};
use crate::transport::notification;

fn config(redis: &str, sink: &SmtpSink, tls: &str, password: &str, ca: Option<&Path>) -> String {
    let ca = ca
        .map(|p| format!("ca_file = \"{}\"\n", p.display()))
        .unwrap_or_default();
    format!(
        "[redis]\nurl = \"{redis}\"\n\n[senders.email]\nbackend = \"smtp\"\nhost = \"127.0.0.1\"\n\
         port = {}\ntls = \"{tls}\"\nusername = \"fmn\"\npassword = \"{password}\"\n{ca}\
         from = \"fmn <fmn@example.org>\"\ntimeout_secs = 5\n",
        sink.port
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mails_go_over_starttls_and_tls_with_a_login() {
    let (redis, _plain, dir, transport) = sender_setup(&[]).await;
    let certs = test_certificates();
    for (i, tls) in ["starttls", "tls"].into_iter().enumerate() {
        let sink = SmtpSink::start_secure(tls, certs.path(), Some("fmn:s3cret"));
        let with = configured(
            dir.path(),
            &config(
                &redis.url(),
                &sink,
                tls,
                "s3cret",
                Some(&certs.path().join("ca.pem")),
            ),
        );
        let mut n = notification(&format!("tls-{i}"), ChannelKind::Email);
        n.addresses = vec![format!("{tls}@example.org")];
        transport.complete_work("w", &[], &[n]).await.unwrap();
        let sender = spawn(&mut with(&["send", "--channel", "email"]));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while sink.mails().is_empty() && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let out = terminate(sender);
        let mails = sink.mails();
        assert_eq!(mails.len(), 1, "{}", text(&out.stderr));
        assert!(mails[0].tls, "{tls}: not encrypted");
        assert_eq!(mails[0].login.as_deref(), Some("fmn"), "{tls}");
        assert_eq!(mails[0].rcpt_tos, [format!("{tls}@example.org")]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    assert_eq!(transport.dead_letter_count().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_or_an_untrusted_certificate_holds_the_mails_with_the_reason() {
    let (redis, _plain, dir, transport) = sender_setup(&[]).await;
    let certs = test_certificates();
    let sink = SmtpSink::start_secure("starttls", certs.path(), Some("fmn:s3cret"));
    let ca = certs.path().join("ca.pem");
    let mut n = notification("held", ChannelKind::Email);
    n.addresses = vec!["held@example.org".into()];
    transport.complete_work("w", &[], &[n]).await.unwrap();
    // Each wrong in turn, for longer than five attempts would take (about 3 s).
    for (password, ca, reason) in [
        ("wrong", Some(ca.as_path()), "535"),
        ("s3cret", None, "certificate"),
    ] {
        let with = configured(
            dir.path(),
            &config(&redis.url(), &sink, "starttls", password, ca),
        );
        let sender = spawn(&mut with(&["send", "--channel", "email"]));
        tokio::time::sleep(Duration::from_secs(4)).await;
        let out = terminate(sender);
        let stderr = text(&out.stderr);
        let warning = stderr
            .lines()
            .find(|l| l.contains("out of reach"))
            .unwrap_or_default();
        assert!(warning.contains(reason), "{reason}:\n{stderr}");
        assert!(sink.mails().is_empty());
        assert_eq!(transport.dead_letter_count().await.unwrap(), 0, "{stderr}");
        assert_eq!(
            transport.retries_waiting(ChannelKind::Email).await.unwrap(),
            0,
            "{stderr}"
        );
    }
    // Mended: the mail that waited goes out, once.
    let with = configured(
        dir.path(),
        &config(&redis.url(), &sink, "starttls", "s3cret", Some(&ca)),
    );
    let sender = spawn(&mut with(&["send", "--channel", "email"]));
    wait_until(Duration::from_secs(30), "the mail", async || {
        !sink.mails().is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let out = terminate(sender);
    let mails = sink.mails();
    assert_eq!(mails.len(), 1, "{}", text(&out.stderr));
    assert_eq!(mails[0].rcpt_tos, ["held@example.org"]);
}

/// A server that takes the connection and never greets: the sender gives up on it within
/// its timeout, holds the mail, and stops on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_greets_does_not_hold_the_sender() {
    let (redis, _plain, dir, transport) = sender_setup(&[]).await;
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    // Accepted connections are kept open, unanswered.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming() {
            held.push(stream);
        }
    });
    let with = configured(
        dir.path(),
        &format!(
            "[redis]\nurl = \"{}\"\n\n[senders.email]\nbackend = \"smtp\"\nhost = \"127.0.0.1\"\n\
             port = {port}\nfrom = \"fmn <fmn@example.org>\"\ntimeout_secs = 1\n",
            redis.url()
        ),
    );
    transport
        .complete_work("w", &[], &[notification("silent", ChannelKind::Email)])
        .await
        .unwrap();
    let sender = spawn(&mut with(&["send", "--channel", "email"]));
    tokio::time::sleep(Duration::from_secs(6)).await;
    let out = terminate(sender);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("out of reach") && stderr.contains("did not complete greeting"),
        "{stderr}"
    );
    assert_eq!(transport.dead_letter_count().await.unwrap(), 0);
    assert!(out.status.success(), "{stderr}");
}

/// A summary is the message's text: one unbroken 1,000-character token, line breaks and
/// control characters make a subject line no server takes (RFC 5322: 998 bytes). The mail goes
/// out with the summary on one line, cut to 200 characters; nothing is dead-lettered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_summary_no_subject_line_could_hold_is_made_one() {
    let (redis, sink, dir, transport) = sender_setup(&[]).await;
    let with = configured(
        dir.path(),
        &format!(
            "[redis]\nurl = \"{}\"\n\n[senders.email]\nbackend = \"smtp\"\nhost = \"127.0.0.1\"\nport = {}\nfrom = \"fmn <fmn@example.org>\"\n",
            redis.url(),
            sink.port
        ),
    );
    let mut n = notification("long-subject", ChannelKind::Email);
    n.meta.summary = Some(format!("built\r\nok\u{1}{}", "x".repeat(1000)));
    transport.complete_work("w", &[], &[n]).await.unwrap();
    let sender = spawn(&mut with(&["send", "--channel", "email"]));
    wait_until(Duration::from_secs(30), "the mail", async || {
        !sink.mails().is_empty()
    })
    .await;
    let out = terminate(sender);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let subject = sink.mails()[0].header("Subject").unwrap_or_default();
    assert!(subject.starts_with("built ok xxx"), "{subject}");
    assert_eq!(subject.chars().count(), 200, "{subject}");
    assert!(subject.ends_with("xx..."), "{subject}");
    assert_eq!(transport.dead_letter_count().await.unwrap(), 0);
}
