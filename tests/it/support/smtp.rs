//! An SMTP server (python3-aiosmtpd) that keeps what it receives.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

use super::{free_port, root, wait_for_port};

/// The Python that has Debian's python3-aiosmtpd.
fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// An SMTP server (aiosmtpd) that records every mail it accepts.
pub struct SmtpSink {
    pub port: u16,
    child: Child,
    dir: TempDir,
    /// TLS and login options, kept across a restart.
    secure: Vec<String>,
}

/// A mail the sink accepted.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Mail {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub data: String,
    /// The session was encrypted (STARTTLS or TLS from the first byte).
    pub tls: bool,
    /// Who logged in, if anyone.
    pub login: Option<String>,
}

impl Mail {
    /// The value of header `name` (first occurrence, unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        let mut out: Option<String> = None;
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(v) = out.as_mut() {
                    v.push(' ');
                    v.push_str(line.trim());
                }
                continue;
            }
            if out.is_some() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case(name)
            {
                out = Some(v.trim().to_owned());
            }
        }
        out
    }
}

impl Mail {
    /// The body, decoded from quoted-printable when it is so encoded.
    pub fn body(&self) -> String {
        let body = self
            .data
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or("");
        let qp = self
            .header("Content-Transfer-Encoding")
            .is_some_and(|e| e.eq_ignore_ascii_case("quoted-printable"));
        if !qp {
            return body.to_owned();
        }
        let joined = body.replace("=\r\n", "");
        let bytes = joined.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'='
                && i + 2 < bytes.len()
                && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
            {
                out.push(b);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).replace("\r\n", "\n")
    }
}

impl SmtpSink {
    /// Starts one that accepts everything.
    pub fn start() -> SmtpSink {
        Self::start_with_replies(&[])
    }

    /// Starts one that answers the first DATA commands with `replies` (e.g. `[451, 250]`).
    pub fn start_with_replies(replies: &[u16]) -> SmtpSink {
        Self::start_with(replies, 0)
    }

    /// Starts one that holds each mail `delay_ms` before accepting it; a mail whose client goes
    /// away meanwhile is dropped, as a real MTA drops a mail it never said 250 to.
    pub fn start_slow(delay_ms: u64) -> SmtpSink {
        Self::start_with(&[], delay_ms)
    }

    fn start_with(replies: &[u16], delay_ms: u64) -> SmtpSink {
        let reply: Vec<String> = replies.iter().map(u16::to_string).collect();
        let args = [
            "--reply".to_owned(),
            reply.join(","),
            "--delay-ms".to_owned(),
            delay_ms.to_string(),
        ];
        Self::start_args(&args, Vec::new())
    }

    /// Starts one that speaks TLS (`tls`: `starttls` or `tls`) with the server certificate of
    /// `certs` ([`test_certificates`]) and, with `login` (`USER:PASS`), requires that login.
    pub fn start_secure(tls: &str, certs: &Path, login: Option<&str>) -> SmtpSink {
        let mut secure: Vec<String> = vec![
            "--tls".into(),
            tls.into(),
            "--cert".into(),
            certs.join("server.pem").display().to_string(),
            "--key".into(),
            certs.join("server.key").display().to_string(),
        ];
        if let Some(login) = login {
            secure.extend(["--auth".to_owned(), login.to_owned()]);
        }
        Self::start_args(&[], secure)
    }

    fn start_args(args: &[String], secure: Vec<String>) -> SmtpSink {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let all: Vec<String> = args.iter().chain(&secure).cloned().collect();
        let child = Self::spawn(port, &dir, &all);
        SmtpSink {
            port,
            child,
            dir,
            secure,
        }
    }

    /// Kills it with SIGKILL: a mail relay gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port and directory, accepting everything.
    pub fn restart(&mut self) {
        self.child = Self::spawn(self.port, &self.dir, &self.secure);
    }

    fn spawn(port: u16, dir: &TempDir, args: &[String]) -> Child {
        let mut child = Command::new(python())
            .arg(root().join("tests/support/smtp_sink.py"))
            .arg("--port")
            .arg(port.to_string())
            .arg("--dir")
            .arg(dir.path())
            .args(args)
            .stdout(Stdio::null())
            .spawn()
            .expect(
                "python3 with aiosmtpd (Debian package python3-aiosmtpd; scripts/test installs it)",
            );
        wait_for_port(port, "the SMTP sink", &mut child);
        child
    }

    /// Every mail accepted so far, in order, with when the sink stored it.
    pub fn mails_with_times(&self) -> Vec<(std::time::SystemTime, Mail)> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("sink dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| {
                let at = std::fs::metadata(f)
                    .and_then(|m| m.modified())
                    .expect("mtime");
                let mail = serde_json::from_str(&std::fs::read_to_string(f).expect("mail file"))
                    .expect("mail JSON");
                (at, mail)
            })
            .collect()
    }

    /// Every mail accepted so far, in order.
    pub fn mails(&self) -> Vec<Mail> {
        self.mails_with_times()
            .into_iter()
            .map(|(_, m)| m)
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
