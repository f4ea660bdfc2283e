//! fmn's web service: what people reach from a browser or a mail client, over the preferences
//! workers follow (a [`PrefsStore`]).
//!
//! Served today: one-click unsubscribe (RFC 8058) for the links the email sender writes
//! ([`fmn_senders::unsubscribe`]), a JSON API over a user's preferences and API tokens
//! ([`issue`]), the pages of a signed-in person, addresses added once verified (an email
//! address by a mailed link; an IRC nick or a Matrix id by a code its channel's bot sends,
//! queued with [`fmn_transport::Outbox::queue_notification`]), and a health check. A change
//! made here is stored like `fmn prefs set`'s ([`fmn_transport::edit_user_prefs`]) and reaches
//! the workers the same way.
//!
//! ```no_run
//! # async fn example(store: fmn_transport::RedisTransport) -> std::io::Result<()> {
//! let rules = std::sync::Arc::new(fmn_host::RuleSet::new(1, Vec::new()).unwrap());
//! let app = fmn_web::router(store, rules, fmn_web::WebOptions {
//!     unsubscribe_secret: Some("the email sender's secret".into()),
//!     ..Default::default()
//! });
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! fmn_web::serve(listener, app, tokio_util::sync::CancellationToken::new()).await
//! # }
//! ```

mod api;
mod auth;
mod codes;
mod error;
mod gate;
mod home;
mod manage;
mod pages;
mod session;
mod signin;
mod unsubscribe;
mod verify;
mod why;
mod why_page;

use std::sync::Arc;

use axum::routing::{delete, get, post};
use fmn_host::RuleSet;
use fmn_transport::{ApiTokens, DataStore, History, Outbox, PrefsStore};
use tokio_util::sync::CancellationToken;

pub use auth::issue;
/// The service, as [`router`] makes it.
pub use axum::Router;
pub use signin::OidcOptions;

/// What the service needs besides the store.
#[derive(Debug, Clone, Default)]
pub struct WebOptions {
    /// The key unsubscribe tokens are made with: the email sender's `unsubscribe_secret`.
    /// Without it every unsubscribe link is refused (503), none is trusted.
    pub unsubscribe_secret: Option<String>,
    /// The key sessions' cookies are signed with; without one, a random key is made at
    /// start (sessions then end when the service restarts, and do not span replicas).
    pub session_secret: Option<String>,
    /// Sign-in; without it `/login` answers 503 and only API tokens name anyone.
    pub oidc: Option<OidcOptions>,
    /// The SMTP sender verification links are mailed through (the email sender's); without
    /// it only the address the provider vouched for can be added.
    pub email: Option<fmn_senders::EmailConfig>,
}

/// What every handler shares.
struct Shared<S> {
    store: S,
    /// The rules preferences are checked against, and the catalogue lists.
    rules: Arc<RuleSet>,
    opts: WebOptions,
    keys: session::Keys,
    /// For the provider: it follows no redirects (the `openidconnect` crate's advice).
    http: openidconnect::reqwest::Client,
    /// The provider's metadata, once discovered.
    provider: std::sync::OnceLock<openidconnect::core::CoreProviderMetadata>,
    /// Mails verification links.
    mailer: Option<tokio::sync::Mutex<fmn_senders::EmailSender>>,
    /// The data rules consult, with its version, as last read.
    relations: tokio::sync::Mutex<Option<(u64, Arc<fmn_core::Relations>)>>,
    /// Turns at evaluating messages for "why" and dry runs.
    gate: gate::Gate,
}

/// The handlers' state: cheap to clone.
type State<S> = Arc<Shared<S>>;

/// The service's routes over `store`, checking preferences against `rules`:
/// - `GET /`: the signed-in person's notifications, with forms to change them; `GET /login`,
///   `GET /oidc/callback`, `POST /logout`: sign-in and out; `POST /change`,
///   `GET /filters/new`: the page's changes (docs/api.md, "The pages' changes");
/// - `POST /addresses`: adds an address to the signed-in person's `channel`: an email
///   address is mailed a link (`GET`/`POST /verify` confirm it); an IRC nick or a Matrix id is
///   sent a code by that channel's bot, queued on the channel's queue for `fmn send`;
/// - `POST /addresses/code`: the code typed; a right one adds the nick or id;
/// - `GET /healthz`: `ok`;
/// - `GET /unsubscribe?u=USER&c=CHANNEL&f=FILTER&t=TOKEN`: a page asking to confirm (a
///   mail scanner that follows links changes nothing);
/// - `POST` to the same URL: the filter (or, `f` empty, the channel) is switched off. What a
///   mail client's one-click unsubscribe sends, and what the confirmation page's button does;
/// - `/api/v1/...`: the JSON API (`docs/api.md`), with `Authorization: Bearer TOKEN`.
pub fn router<S>(store: S, rules: Arc<RuleSet>, opts: WebOptions) -> Router
where
    S: PrefsStore + ApiTokens + Outbox + History + DataStore + Send + Sync + 'static,
{
    let secret = opts.session_secret.clone().unwrap_or_else(|| {
        tracing::warn!("no session secret: sessions end when the service restarts");
        auth::random_token()
    });
    let secure = opts
        .oidc
        .as_ref()
        .is_some_and(|o| o.public_url.starts_with("https://"));
    let http = openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap_or_default();
    let mailer = opts
        .email
        .as_ref()
        .and_then(|cfg| match fmn_senders::EmailSender::new(cfg) {
            Ok(m) => Some(tokio::sync::Mutex::new(m)),
            Err(e) => {
                tracing::warn!("verification links cannot be mailed: {e}");
                None
            }
        });
    let state: State<S> = Arc::new(Shared {
        mailer,
        store,
        rules,
        keys: session::Keys::new(&secret, secure),
        opts,
        http,
        provider: std::sync::OnceLock::new(),
        relations: tokio::sync::Mutex::new(None),
        gate: gate::Gate::new(gate::AT_ONCE),
    });
    Router::new()
        .route("/", get(home::home::<S>))
        .route("/login", get(signin::login::<S>))
        .route("/oidc/callback", get(signin::callback::<S>))
        .route("/logout", post(home::logout::<S>))
        .route("/change", post(manage::change::<S>))
        .route("/filters/new", get(manage::new_filter_page::<S>))
        .route("/addresses", post(verify::add::<S>))
        .route("/addresses/code", post(codes::confirm::<S>))
        .route(
            "/verify",
            get(verify::confirm::<S>).post(verify::apply::<S>),
        )
        .route("/api/v1/session", get(api::session::<S>))
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/unsubscribe",
            get(unsubscribe::confirm::<S>).post(unsubscribe::apply::<S>),
        )
        .route("/api/v1/rules", get(api::catalogue::<S>))
        .route("/api/v1/openapi.json", get(api::openapi))
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
        .route("/api/v1/users/{user}/why", post(why::why::<S>))
        .route("/api/v1/users/{user}/matches", post(why::matches::<S>))
        .route("/api/v1/users/{user}/deliveries", get(why::deliveries::<S>))
        .route("/why", get(why_page::why::<S>))
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
