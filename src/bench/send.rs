//! `fmn bench send`: deliveries per second into a real server, beside a baseline.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use fmn_core::{ChannelKind, Envelope, MessageMeta, Notification};
use serde::Serialize;

use crate::setup;

/// `fmn bench send` options.
#[derive(clap::Args)]
pub struct SendArgs {
    /// The channel; `email` is the one measured today.
    #[arg(long, value_parser = crate::cmd::channel_kind())]
    channel: ChannelKind,
    /// The SMTP server, `HOST:PORT` (e.g. `python3 tests/support/smtp_sink.py --port 2525 --dir DIR`).
    #[arg(long)]
    smtp: String,
    /// Mails sent by each contender.
    #[arg(long, default_value_t = 200)]
    mails: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct SendFigure {
    sender: &'static str,
    mails: u64,
    seconds: f64,
    mails_per_second: f64,
    ms_per_mail: f64,
}

fn figure(sender: &'static str, mails: u64, seconds: f64) -> SendFigure {
    SendFigure {
        sender,
        mails,
        seconds,
        mails_per_second: mails as f64 / seconds.max(1e-9),
        ms_per_mail: 1000.0 * seconds / mails.max(1) as f64,
    }
}

pub(super) async fn run(args: SendArgs) -> Result<ExitCode> {
    anyhow::ensure!(
        args.channel == ChannelKind::Email,
        "only the email channel is measured today"
    );
    let (host, port) = args
        .smtp
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_owned(), p.parse::<u16>().ok()?)))
        .context("--smtp is HOST:PORT")?;
    let n = koji_notification()?;
    let figures = contenders(&host, port, &n, args.mails).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&figures)?);
    } else {
        println!(
            "fmn bench send: {} mails each, one at a time, to {}",
            args.mails, args.smtp
        );
        println!("| sender | mails/s | ms per mail |\n| --- | ---: | ---: |");
        for f in &figures {
            println!(
                "| {} | {:.0} | {:.2} |",
                f.sender, f.mails_per_second, f.ms_per_mail
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A notification of a real koji message from the bundled sample.
fn koji_notification() -> Result<Notification> {
    let line = setup::bundled::SAMPLE_MESSAGES
        .split(|b| *b == b'\n')
        .find(|l| l.windows(8).any(|w| w == b"buildsys"))
        .context("the bundled sample has a koji message")?;
    let envelope = Envelope::from_bus_json(line, 1 << 20)?;
    Ok(Notification {
        delivery_id: fmn_core::delivery_id(&envelope.id, "bench", ChannelKind::Email),
        user: "bench".into(),
        channel: ChannelKind::Email,
        addresses: vec!["bench@example.org".into()],
        filter: "bench".into(),
        oneshot: false,
        attempts: 0,
        digest: None,
        generation: 0,
        worker: "bench".into(),
        meta: MessageMeta {
            summary: Some("a koji build".into()),
            ..Default::default()
        },
        message: (&envelope).into(),
    })
}

/// Our sender, then lettre's pooled transport with the same mail, each warmed by one mail.
async fn contenders(
    host: &str,
    port: u16,
    n: &Notification,
    mails: u64,
) -> Result<[SendFigure; 2]> {
    use fmn_senders::{EmailConfig, EmailSender, Sender};
    use lettre::AsyncTransport;

    let cfg = EmailConfig {
        host: host.to_owned(),
        port,
        tls: Default::default(),
        username: None,
        password: None,
        ca_file: None,
        from: "fmn bench <bench@example.org>".into(),
        timeout_secs: 30,
        preferences_url: None,
        why_url: None,
        list_id: None,
        unsubscribe_url: None,
        unsubscribe_secret: None,
    };
    let mut ours = EmailSender::new(&cfg)?;
    ours.send(n, "bench@example.org").await?;
    let started = Instant::now();
    for _ in 0..mails {
        ours.send(n, "bench@example.org").await?;
    }
    let fmn = figure(
        "fmn email sender (TCP_NODELAY)",
        mails,
        started.elapsed().as_secs_f64(),
    );

    let lettre_transport =
        lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .build();
    let to: lettre::message::Mailbox = "bench@example.org".parse()?;
    let mail = || ours.compose(n, to.clone());
    lettre_transport.send(mail()?).await?;
    let started = Instant::now();
    for _ in 0..mails {
        lettre_transport.send(mail()?).await?;
    }
    let baseline = figure(
        "lettre AsyncSmtpTransport (baseline)",
        mails,
        started.elapsed().as_secs_f64(),
    );
    Ok([fmn, baseline])
}
