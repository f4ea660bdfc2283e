//! SMTP connections: lettre's protocol client over sockets we open ourselves.
//!
//! lettre 0.11.23 leaves Nagle's algorithm on: it writes a mail's body and its final `.` in
//! two writes, and the second waits for the server's delayed ACK, 40 ms on Linux, for every
//! mail (lettre/lettre#1159, merged after that release). Opening the TCP connection here with
//! `TCP_NODELAY` and handing it to [`AsyncSmtpConnection::connect_with_transport`] removes the
//! stall: measured in docs/benchmarks.md.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain SMTP (a local relay).
    #[default]
    None,
    /// STARTTLS, required.
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

/// Why a connection or a send failed, with whether trying again later may help.
#[derive(Debug)]
pub struct SmtpError {
    /// The failure.
    pub message: String,
    /// A 5xx answer: the server refused for good.
    pub permanent: bool,
    /// No connection could be made (refused, timed out, TLS, greeting or authentication
    /// failed): the server, not the mail, is the problem.
    pub unreachable: bool,
}

impl fmt::Display for SmtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<lettre::transport::smtp::Error> for SmtpError {
    fn from(e: lettre::transport::smtp::Error) -> Self {
        SmtpError {
            permanent: e.is_permanent(),
            message: e.to_string(),
            unreachable: false,
        }
    }
}

impl SmtpError {
    fn no_connection(self) -> SmtpError {
        SmtpError {
            message: format!("no connection: {}", self.message),
            permanent: false,
            unreachable: true,
        }
    }
}

fn transient(message: String) -> SmtpError {
    SmtpError {
        message,
        permanent: false,
        unreachable: false,
    }
}

/// A TLS stream lettre can drive (implicit TLS, "SMTPS").
struct Tls(TlsStream<TcpStream>);

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tls")
    }
}

impl AsyncRead for Tls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Tls {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for Tls {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

/// Idle connections older than this are closed rather than reused: servers drop idle clients.
const MAX_IDLE: Duration = Duration::from_secs(60);

/// A small pool of SMTP connections to one server.
pub struct SmtpPool {
    host: String,
    port: u16,
    mode: TlsMode,
    timeout: Duration,
    credentials: Option<Credentials>,
    hello: ClientId,
    starttls: Option<TlsParameters>,
    implicit: Option<TlsConnector>,
    idle: Vec<(AsyncSmtpConnection, Instant)>,
}

impl SmtpPool {
    /// A pool for `host:port`; nothing is connected yet. `extra_roots`: PEM certificates
    /// trusted besides the public roots.
    pub fn new(
        host: &str,
        port: u16,
        mode: TlsMode,
        timeout: Duration,
        credentials: Option<Credentials>,
        extra_roots: Option<&[u8]>,
    ) -> Result<SmtpPool, String> {
        let starttls = match mode {
            TlsMode::Starttls => {
                let mut params = TlsParameters::builder(host.to_owned());
                if let Some(pem) = extra_roots {
                    let certs = lettre::transport::smtp::client::Certificate::from_pem(pem)
                        .map_err(|e| format!("ca_file: {e}"))?;
                    params = params.add_root_certificate(certs);
                }
                Some(params.build().map_err(|e| e.to_string())?)
            }
            _ => None,
        };
        let implicit = match mode {
            TlsMode::Tls => {
                let mut roots = rustls::RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                };
                if let Some(pem) = extra_roots {
                    use rustls::pki_types::pem::PemObject;
                    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pem) {
                        let cert = cert.map_err(|e| format!("ca_file: {e}"))?;
                        roots.add(cert).map_err(|e| format!("ca_file: {e}"))?;
                    }
                }
                let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
                Some(TlsConnector::from(Arc::new(config)))
            }
            _ => None,
        };
        Ok(SmtpPool {
            host: host.to_owned(),
            port,
            mode,
            timeout,
            credentials,
            hello: ClientId::default(),
            starttls,
            implicit,
            idle: Vec::new(),
        })
    }

    /// A new connection, greeted, secured and logged in; each step within the timeout, so a
    /// server that accepts and then says nothing cannot hold the sender.
    async fn connect(&self) -> Result<AsyncSmtpConnection, SmtpError> {
        // TCP and TLS have their own timeouts inside; this bounds the whole dialogue.
        tokio::time::timeout(self.timeout * 4, self.open())
            .await
            .map_err(|_| {
                transient(format!(
                    "{}:{} did not complete greeting, TLS and login within {:?}",
                    self.host,
                    self.port,
                    self.timeout * 4
                ))
            })?
    }

    async fn open(&self) -> Result<AsyncSmtpConnection, SmtpError> {
        let addr = (self.host.as_str(), self.port);
        let tcp = tokio::time::timeout(self.timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| {
                transient(format!(
                    "connecting to {}:{} timed out",
                    self.host, self.port
                ))
            })?
            .map_err(|e| transient(format!("connecting to {}:{}: {e}", self.host, self.port)))?;
        tcp.set_nodelay(true)
            .map_err(|e| transient(format!("setting TCP_NODELAY: {e}")))?;
        let mut conn = match (&self.mode, &self.implicit) {
            (TlsMode::Tls, Some(connector)) => {
                let name =
                    rustls::pki_types::ServerName::try_from(self.host.clone()).map_err(|e| {
                        transient(format!("{:?} is not a TLS server name: {e}", self.host))
                    })?;
                let tls = tokio::time::timeout(self.timeout, connector.connect(name, tcp))
                    .await
                    .map_err(|_| transient(format!("TLS handshake with {} timed out", self.host)))?
                    .map_err(|e| transient(format!("TLS handshake with {}: {e}", self.host)))?;
                AsyncSmtpConnection::connect_with_transport(Box::new(Tls(tls)), &self.hello).await?
            }
            _ => AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello).await?,
        };
        if let Some(params) = &self.starttls {
            if !conn.can_starttls() {
                return Err(transient(format!("{} does not offer STARTTLS", self.host)));
            }
            conn.starttls(params.clone(), &self.hello).await?;
        }
        if let Some(creds) = &self.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], creds)
                .await?;
        }
        Ok(conn)
    }

    /// Opens a connection for the next mail if no idle one is live.
    pub async fn ready(&mut self) -> Result<(), SmtpError> {
        self.idle
            .retain(|(conn, since)| since.elapsed() <= MAX_IDLE && !conn.has_broken());
        if self.idle.is_empty() {
            let conn = self.connect().await.map_err(SmtpError::no_connection)?;
            self.idle.push((conn, Instant::now()));
        }
        Ok(())
    }

    /// Sends one mail, on an idle connection if there is a live one. A reused connection that
    /// turns out dead is replaced once, so a server's idle timeout costs no failed delivery.
    pub async fn send(&mut self, envelope: &Envelope, mail: &[u8]) -> Result<(), SmtpError> {
        while let Some((mut conn, since)) = self.idle.pop() {
            if since.elapsed() > MAX_IDLE || conn.has_broken() {
                conn.abort().await;
                continue;
            }
            match tokio::time::timeout(self.timeout, conn.send(envelope, mail)).await {
                Ok(Ok(_)) => {
                    self.idle.push((conn, Instant::now()));
                    return Ok(());
                }
                // A refusal from a live server is the answer; anything else may be a dead socket.
                Ok(Err(e)) if e.is_permanent() || e.is_transient() => return Err(e.into()),
                Ok(Err(_)) | Err(_) => continue,
            }
        }
        let mut conn = self.connect().await.map_err(SmtpError::no_connection)?;
        match tokio::time::timeout(self.timeout, conn.send(envelope, mail)).await {
            Ok(Ok(_)) => {
                self.idle.push((conn, Instant::now()));
                Ok(())
            }
            Ok(Err(e)) => Err(e.into()),
            Err(_) => {
                conn.abort().await;
                Err(transient(format!(
                    "sending to {} timed out after {:?}",
                    self.host, self.timeout
                )))
            }
        }
    }
}
