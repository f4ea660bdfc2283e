//! What the HTTP senders (push, Matrix) share: a server out of reach told apart from a request
//! that failed.

use std::time::Duration;

use reqwest::Url;
use tokio::net::TcpStream;

use crate::SendError;

/// `e`, classified: no connection made is [`SendError::Unreachable`] (the request was never
/// sent), anything else transient.
pub(crate) fn failed(what: &str, e: reqwest::Error) -> SendError {
    if e.is_connect() {
        SendError::Unreachable(format!("{what}: {e}"))
    } else {
        SendError::Transient(format!("{what}: {e}"))
    }
}

/// Whether `url`'s server takes a TCP connection within `timeout`: what [`crate::Sender::ready`]
/// checks while it is out of reach.
pub(crate) async fn reachable(url: &str, timeout: Duration) -> Result<(), SendError> {
    let parsed = Url::parse(url)
        .map_err(|e| SendError::Unreachable(format!("{url:?} is not a URL: {e}")))?;
    let (Some(host), Some(port)) = (parsed.host_str(), parsed.port_or_known_default()) else {
        return Err(SendError::Unreachable(format!("{url:?} names no host")));
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match tokio::time::timeout(timeout, TcpStream::connect((host, port))).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(SendError::Unreachable(format!("{host}:{port}: {e}"))),
        Err(_) => Err(SendError::Unreachable(format!(
            "{host}:{port}: no connection within {timeout:?}"
        ))),
    }
}
