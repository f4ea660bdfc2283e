//! fmn's web service: what people reach from a browser or a mail client, over the preferences
//! workers follow (a [`PrefsStore`]).
//!
//! Served today: one-click unsubscribe (RFC 8058) for the links the email sender writes
//! ([`fmn_senders::unsubscribe`]), a JSON API over a user's preferences and API tokens
//! ([`issue`]), and a health check. A change made here is stored like
//! `fmn prefs set`'s ([`fmn_transport::edit_user_prefs`]) and reaches the workers the same way.
//!
//! ```no_run
//! # async fn example(store: fmn_transport::RedisTransport) -> std::io::Result<()> {
//! let rules = std::sync::Arc::new(fmn_host::RuleSet::new(1, Vec::new()).unwrap());
//! let app = fmn_web::router(store, rules, fmn_web::WebOptions {
//!     unsubscribe_secret: Some("the email sender's secret".into()),
//! });
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! fmn_web::serve(listener, app, tokio_util::sync::CancellationToken::new()).await
//! # }
//! ```

mod api;
mod auth;
mod error;
mod pages;
mod unsubscribe;

use std::sync::Arc;

use axum::Router;
use axum::routing::{delete, get};
use fmn_host::RuleSet;
use fmn_transport::{ApiTokens, PrefsStore};
use tokio_util::sync::CancellationToken;

pub use auth::issue;

/// What the service needs besides the store.
#[derive(Debug, Clone, Default)]
pub struct WebOptions {
    /// The key unsubscribe tokens are made with: the email sender's `unsubscribe_secret`.
    /// Without it every unsubscribe link is refused (503), none is trusted.
    pub unsubscribe_secret: Option<String>,
}

/// What every handler shares.
struct Shared<S> {
    store: S,
    /// The rules preferences are checked against, and the catalogue lists.
    rules: Arc<RuleSet>,
    opts: WebOptions,
}

/// The handlers' state: cheap to clone.
type State<S> = Arc<Shared<S>>;

/// The service's routes over `store`, checking preferences against `rules`:
/// - `GET /healthz`: `ok`;
/// - `GET /unsubscribe?u=USER&c=CHANNEL&f=FILTER&t=TOKEN`: a page asking to confirm (a
///   mail scanner that follows links changes nothing);
/// - `POST` to the same URL: the filter (or, `f` empty, the channel) is switched off. What a
///   mail client's one-click unsubscribe sends, and what the confirmation page's button does;
/// - `/api/v1/...`: the JSON API (`docs/api.md`), with `Authorization: Bearer TOKEN`.
pub fn router<S>(store: S, rules: Arc<RuleSet>, opts: WebOptions) -> Router
where
    S: PrefsStore + ApiTokens + Send + Sync + 'static,
{
    let state: State<S> = Arc::new(Shared { store, rules, opts });
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/unsubscribe",
            get(unsubscribe::confirm::<S>).post(unsubscribe::apply::<S>),
        )
        .route("/api/v1/rules", get(api::catalogue::<S>))
        .route("/api/v1/me", get(api::me::<S>))
        .route(
            "/api/v1/users/{user}/preferences",
            get(api::read_prefs::<S>).put(api::write_prefs::<S>),
        )
        .route(
            "/api/v1/tokens",
            get(api::list_tokens::<S>).post(api::create_token::<S>),
        )
        .route("/api/v1/tokens/{id}", delete(api::revoke_token::<S>))
        .with_state(state)
}

/// Serves `app` on `listener` until `stop` fires, then lets the requests in hand finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    stop: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
}
