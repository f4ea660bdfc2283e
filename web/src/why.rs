//! "Why did I get this, or not?", "what would this filter have matched?" and "what was sent
//! to me?": answered from the recent-message window and the delivery logs
//! ([`fmn_transport::History`]), by the host evaluating the one user
//! ([`fmn_host::Explainer`]) with the rules and the data the workers use.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use fmn_core::prefs::{Channel, Filter, User};
use fmn_core::{ChannelKind, Envelope, Relations};
use fmn_host::{Explainer, Explanation, RuleSet};
use fmn_transport::{ApiTokens, DataStore, Delivery, History, PrefsStore, WorkItem};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::parse_body;
use crate::auth::ActingFor;
use crate::error::ApiError;

/// The most messages one `matches` call evaluates: a bound on the CPU one request costs.
pub(crate) const MAX_SCAN: usize = 10_000;

/// The data rules consult, as the workers hold it: read again when its version changes.
pub(crate) async fn relations<S: DataStore>(
    state: &crate::Shared<S>,
) -> Result<Arc<Relations>, ApiError> {
    let version = state.store.data_version().await?;
    let mut cached = state.relations.lock().await;
    if let Some((v, r)) = cached.as_ref().filter(|(v, _)| *v == version) {
        tracing::trace!(version = v, "data as cached");
        return Ok(r.clone());
    }
    let (v, r) = state.store.load_data().await?;
    let r = Arc::new(r);
    *cached = Some((v, r.clone()));
    Ok(r)
}

/// Runs `work` on an explainer for `user`'s `prefs` off the async threads (compiling and
/// evaluating is CPU work), in the user's turn at the gate ([`crate::gate`]).
async fn with_explainer<S, T: Send + 'static>(
    state: &crate::Shared<S>,
    relations: Arc<Relations>,
    user: String,
    prefs: User,
    work: impl FnOnce(&mut Explainer) -> T + Send + 'static,
) -> Result<T, ApiError> {
    let _turn = state.gate.enter(&user).await?;
    let rules: Arc<RuleSet> = state.rules.clone();
    tokio::task::spawn_blocking(move || {
        let mut explainer = Explainer::new(&rules, &relations, &user, &prefs)?;
        Ok(work(&mut explainer))
    })
    .await
    .map_err(|e| ApiError::Unavailable(format!("the evaluation stopped: {e}")))?
    .map_err(ApiError::Problems)
}

/// Explains `item` for `user`'s stored preferences.
pub(crate) async fn explain_item<S: PrefsStore + DataStore>(
    state: &crate::Shared<S>,
    user: &str,
    item: WorkItem,
) -> Result<Explanation, ApiError> {
    let prefs = state.store.user_prefs(user).await?.unwrap_or_default();
    let relations = relations(state).await?;
    with_explainer(state, relations, user.to_owned(), prefs, move |e| {
        let json = item.envelope.rules_json();
        e.explain(json.as_bytes(), &item.envelope.topic)
    })
    .await
}

/// What `why` takes: a message of the window by id, or a bus message given whole.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WhyRequest {
    /// The id of a message in the recent-message window.
    #[serde(default)]
    message_id: Option<String>,
    /// A bus message, in any shape the consumer reads (fedora-messaging or fedmsg).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    message: Option<serde_json::Value>,
}

impl WhyRequest {
    async fn item<S: History>(&self, store: &S) -> Result<WorkItem, ApiError> {
        match (&self.message_id, &self.message) {
            (Some(id), None) => store.recent_message(id).await?.ok_or_else(|| {
                ApiError::NotFound(format!(
                    "message {id:?} is not in the recent-message window"
                ))
            }),
            (None, Some(m)) => {
                let bytes = m.to_string();
                let envelope = Envelope::from_bus_json(bytes.as_bytes(), 1 << 20).map_err(|e| {
                    ApiError::Malformed {
                        field: Some("message".into()),
                        why: e.to_string(),
                    }
                })?;
                Ok(WorkItem::new(envelope, "api"))
            }
            _ => Err(ApiError::Malformed {
                field: None,
                why: "give either message_id or message".into(),
            }),
        }
    }
}

/// Why a message reaches the user, channel by channel and filter by filter, or why not: for
/// each filter whether it matches and, when not, the rule that stops it.
#[utoipa::path(post, path = "/api/v1/users/{user}/why",
    params(("user" = String, Path, description = "the account")),
    request_body = WhyRequest,
    responses((status = 200, description = "the explanation", body = Object),
        (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn why<S: ApiTokens + PrefsStore + DataStore + History>(
    State(state): State<crate::State<S>>,
    ActingFor(user): ActingFor,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: WhyRequest = parse_body(&body)?;
    let item = request.item(&state.store).await?;
    let explanation = explain_item(&state, &user, item).await?;
    Ok(Json(explanation).into_response())
}

/// What `matches` takes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MatchesRequest {
    /// A draft filter (the preferences format's filter) to try instead of the user's
    /// preferences.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    filter: Option<Filter>,
    /// Start below this cursor (a `next` from before); the newest message when absent.
    #[serde(default)]
    before: Option<String>,
    /// The most matches to answer (default 20, at most 100).
    #[serde(default)]
    max: Option<usize>,
    /// The most messages to evaluate (default and most [`MAX_SCAN`]).
    #[serde(default)]
    scan: Option<usize>,
}

/// A message of the window that matched.
#[derive(Serialize, ToSchema)]
pub(crate) struct Matched {
    id: String,
    topic: String,
    /// When it was sent, in seconds since the Unix epoch, if it said.
    timestamp: Option<f64>,
    summary: Option<String>,
    /// Each channel it reaches, with the filter that decided (`draft` for a draft filter):
    /// `[["email", "my packages"]]`.
    #[schema(value_type = Vec<Vec<String>>)]
    channels: Vec<(ChannelKind, String)>,
}

/// What `matches` answers.
#[derive(Serialize, ToSchema)]
pub(crate) struct Matches {
    matches: Vec<Matched>,
    /// Messages evaluated.
    scanned: usize,
    /// Where to go on (`before`), if the window holds older messages.
    next: Option<String>,
}

/// Which messages of the recent-message window the user's preferences (or a draft filter)
/// match, newest first: a dry run.
#[utoipa::path(post, path = "/api/v1/users/{user}/matches",
    params(("user" = String, Path, description = "the account")),
    request_body = MatchesRequest,
    responses((status = 200, body = Matches), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn matches<S: ApiTokens + PrefsStore + DataStore + History>(
    State(state): State<crate::State<S>>,
    ActingFor(user): ActingFor,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: MatchesRequest = parse_body(&body)?;
    let prefs = match &request.filter {
        Some(f) => draft(f),
        None => state.store.user_prefs(&user).await?.unwrap_or_default(),
    };
    let scan = request.scan.unwrap_or(MAX_SCAN).min(MAX_SCAN);
    let want = request.max.unwrap_or(20).clamp(1, 100);
    let window = state
        .store
        .recent_messages(request.before.as_deref(), scan)
        .await?;
    let relations = relations(&state).await?;
    let found = with_explainer(&state, relations, user, prefs, move |e| {
        scan_window(e, &window, want)
    })
    .await?;
    Ok(Json(found).into_response())
}

/// The preferences that hold only `filter`, active, on one channel.
fn draft(filter: &Filter) -> User {
    let mut f = filter.clone();
    f.active = true;
    f.name = "draft".into();
    let channel = Channel {
        enabled: true,
        addresses: vec!["draft".into()],
        digest: None,
        filters: vec![f],
    };
    User {
        channels: [(ChannelKind::Email, channel)].into(),
    }
}

/// Evaluates `window` in order until `want` matched.
fn scan_window(e: &mut Explainer, window: &[fmn_transport::RecentMessage], want: usize) -> Matches {
    let mut out = Matches {
        matches: Vec::new(),
        scanned: 0,
        next: None,
    };
    for m in window {
        out.scanned += 1;
        out.next = Some(m.cursor.clone());
        let env = &m.item.envelope;
        // Only what a worker decides: the probes that name rules are for `why`.
        let (decided, meta) = e.decide(env.rules_json().as_bytes(), &env.topic);
        let channels: Vec<(ChannelKind, String)> = decided.into_iter().collect();
        if !channels.is_empty() {
            out.matches.push(Matched {
                id: env.id.clone(),
                topic: env.topic.clone(),
                timestamp: env.timestamp,
                summary: meta.summary,
                channels,
            });
            if out.matches.len() == want {
                break;
            }
        }
    }
    out
}

/// `?max=N`.
#[derive(Deserialize)]
pub(crate) struct Max {
    #[serde(default)]
    max: Option<usize>,
}

/// What `deliveries` answers.
#[derive(Serialize, ToSchema)]
pub(crate) struct Deliveries {
    /// Newest first: `at_ms`, `channel`, `address`, `filter`, `message_id`, `topic`,
    /// `summary`, `outcome` (`sent`, `held_for_digest`, `sent_in_digest`, `retrying`,
    /// `failed`, `oneshot_spent`) and, for the failures, `reason`.
    #[schema(value_type = Vec<Object>)]
    deliveries: Vec<Delivery>,
}

/// The user's delivery log: what was sent, when, where, by which filter, and what failed.
#[utoipa::path(get, path = "/api/v1/users/{user}/deliveries",
    params(("user" = String, Path, description = "the account"),
        ("max" = Option<usize>, Query, description = "the most records (default 50, at most 1000)")),
    responses((status = 200, body = Deliveries), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn deliveries<S: ApiTokens + History>(
    State(state): State<crate::State<S>>,
    ActingFor(user): ActingFor,
    Query(q): Query<Max>,
) -> Result<Response, ApiError> {
    let max = q.max.unwrap_or(50).clamp(1, 1000);
    let deliveries = state.store.deliveries(&user, max).await?;
    Ok(Json(Deliveries { deliveries }).into_response())
}
