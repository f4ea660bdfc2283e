//! `--metrics ADDR`: the Prometheus endpoint (`/metrics`) and the health check (`/healthz`)
//! of `fmn consume`, `fmn worker` and `fmn send`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use fmn_transport::Transport;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How long a scrape or a health check waits for Redis.
const REDIS_WAIT: Duration = Duration::from_secs(2);

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Binds `addr` now (so that a taken port fails the command at once) and serves until
/// `cancel` fires.
pub async fn start<T: Transport>(
    addr: SocketAddr,
    transport: T,
    cancel: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("--metrics {addr}: cannot listen"))?;
    let local = listener.local_addr()?;
    tracing::info!(%local, "metrics on http://{local}/metrics, health on http://{local}/healthz");
    Ok(tokio::spawn(serve(listener, transport, cancel)))
}

async fn serve<T: Transport>(listener: TcpListener, transport: T, cancel: CancellationToken) {
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("metrics endpoint: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = cancel.cancelled() => return,
        };
        let transport = transport.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| respond(req, transport.clone()));
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, "metrics endpoint: connection ended: {e}");
            }
        });
    }
}

fn reply(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

async fn respond<T: Transport>(
    req: Request<Incoming>,
    transport: T,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let text = "text/plain; charset=utf-8";
    Ok(match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => {
            let metrics = fmn_core::metrics::metrics();
            // Queue depths are read at scrape time; when Redis does not answer, the counters
            // are still served and the gauges keep their last values.
            let observed = tokio::time::timeout(REDIS_WAIT, async {
                Ok::<_, fmn_transport::TransportError>((
                    transport.queue_depths().await?,
                    transport.live_workers().await?.len(),
                ))
            })
            .await;
            match observed {
                Ok(Ok((depths, live))) => {
                    for q in &depths {
                        metrics.observe_queue(&q.name, q.waiting, q.pending, q.oldest_ms);
                    }
                    metrics.observe_live_workers(live);
                }
                Ok(Err(e)) => tracing::warn!("metrics: cannot read queue depths: {e}"),
                Err(_) => tracing::warn!("metrics: Redis did not answer within {REDIS_WAIT:?}"),
            }
            reply(StatusCode::OK, OPENMETRICS, metrics.encode())
        }
        (&Method::GET, "/healthz") => {
            match tokio::time::timeout(REDIS_WAIT, transport.data_version()).await {
                Ok(Ok(_)) => reply(StatusCode::OK, text, "ok\n".into()),
                Ok(Err(e)) => reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    text,
                    format!("redis: {e}\n"),
                ),
                Err(_) => reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    text,
                    format!("redis: no answer within {REDIS_WAIT:?}\n"),
                ),
            }
        }
        (_, "/metrics" | "/healthz") => {
            reply(StatusCode::METHOD_NOT_ALLOWED, text, "only GET\n".into())
        }
        (_, path) => reply(
            StatusCode::NOT_FOUND,
            text,
            format!("{path}: not here; try /metrics or /healthz\n"),
        ),
    })
}
