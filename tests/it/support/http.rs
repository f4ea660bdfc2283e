//! Stand-ins for remote HTTP APIs on loopback ports.

/// An HTTP request a stand-in server received.
pub struct HttpRequest {
    pub method: String,
    /// The path and query, as sent (percent-encoded).
    pub target: String,
    /// Header names lowercased.
    pub headers: std::collections::BTreeMap<String, String>,
    pub body: String,
}

/// An answer: status line (`"200 OK"`), extra header lines (each ending in CR LF), JSON body.
pub type HttpAnswer = (String, String, String);

/// A stand-in for a remote HTTP API on a loopback port: one request per connection, answered
/// by `handler`. Returns the port.
pub fn serve_http(handler: impl FnMut(&HttpRequest) -> HttpAnswer + Send + 'static) -> u16 {
    serve_http_on(0, handler)
}

/// [`serve_http`] on `port` (0: any free one).
pub fn serve_http_on(
    port: u16,
    mut handler: impl FnMut(&HttpRequest) -> HttpAnswer + Send + 'static,
) -> u16 {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or("").to_owned();
            let target = parts.next().unwrap_or("").to_owned();
            let mut headers = std::collections::BTreeMap::new();
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = header.split_once(':') {
                    headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                }
            }
            let length = headers
                .get("content-length")
                .and_then(|l| l.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let req = HttpRequest {
                method,
                target,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            };
            let (status, extra, answer) = handler(&req);
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    port
}
