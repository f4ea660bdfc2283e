//! A RabbitMQ node of our own, speaking AMQP over TLS with certificates made by openssl.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::free_port;

/// A RabbitMQ node of our own that speaks AMQP over TLS and requires a client certificate
/// signed by its CA, as Fedora's public broker does; plain AMQP too, for publishing. Its
/// certificates are made with `openssl` in its directory: `ca.pem`, `client.pem`,
/// `client.key`. Killed on drop.
pub struct RabbitTls {
    pub tls_port: u16,
    pub plain_port: u16,
    child: Child,
    pub dir: TempDir,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (Debian's openssl package) runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A directory with a test CA (`ca.pem`), a server certificate for `localhost` and 127.0.0.1
/// (`server.pem`, `server.key`) and a client certificate (`client.pem`, `client.key`), all
/// signed by it and made with `openssl`, valid two days.
pub fn test_certificates() -> TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=fmn test CA",
        ],
    );
    // Version 3 certificates with their extensions: rustls takes no other.
    std::fs::write(
        d.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    std::fs::write(d.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for (who, cn) in [("server", "localhost"), ("client", "fmn-client")] {
        let (key, csr, pem, ext) = (
            format!("{who}.key"),
            format!("{who}.csr"),
            format!("{who}.pem"),
            format!("{who}.ext"),
        );
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &format!("/CN={cn}"),
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &pem,
                "-extfile",
                &ext,
            ],
        );
    }
    dir
}

impl RabbitTls {
    pub fn start() -> RabbitTls {
        let dir = test_certificates();
        let d = dir.path();
        let (plain_port, tls_port, dist_port) = (free_port(), free_port(), free_port());
        std::fs::write(
            d.join("rabbitmq.conf"),
            format!(
                "listeners.tcp.default = 127.0.0.1:{plain_port}\n\
                 listeners.ssl.default = 127.0.0.1:{tls_port}\n\
                 ssl_options.cacertfile = {0}/ca.pem\n\
                 ssl_options.certfile = {0}/server.pem\n\
                 ssl_options.keyfile = {0}/server.key\n\
                 ssl_options.verify = verify_peer\n\
                 ssl_options.fail_if_no_peer_cert = true\n",
                d.display()
            ),
        )
        .unwrap();
        // Debian's script that does not switch to the rabbitmq user.
        let server = [
            "/usr/lib/rabbitmq/bin/rabbitmq-server",
            "/usr/sbin/rabbitmq-server",
        ]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("rabbitmq-server (Debian's rabbitmq-server package)");
        use std::os::unix::process::CommandExt as _;
        let mut child = Command::new(server)
            .env(
                "RABBITMQ_NODENAME",
                format!("fmn-test-{tls_port}@localhost"),
            )
            .env("RABBITMQ_NODE_PORT", plain_port.to_string())
            .env("RABBITMQ_DIST_PORT", dist_port.to_string())
            .env("RABBITMQ_CONFIG_FILE", d.join("rabbitmq"))
            .env("RABBITMQ_MNESIA_BASE", d.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", d.join("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("plugins"))
            .env("RABBITMQ_PID_FILE", d.join("pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: the script starts the Erlang VM, which must go with it.
            .process_group(0)
            .spawn()
            .expect("rabbitmq-server starts");
        let deadline = Instant::now() + Duration::from_secs(90);
        while TcpStream::connect(("127.0.0.1", tls_port)).is_err()
            || TcpStream::connect(("127.0.0.1", plain_port)).is_err()
        {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "rabbitmq-server exited before listening: {status}; see {}",
                    d.join("log").display()
                );
            }
            assert!(
                Instant::now() < deadline,
                "rabbitmq-server did not listen within 90 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        RabbitTls {
            tls_port,
            plain_port,
            child,
            dir,
        }
    }
}

impl Drop for RabbitTls {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}
