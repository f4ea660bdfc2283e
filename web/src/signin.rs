//! Sign-in with OpenID Connect: the authorization code flow with PKCE. `/login` sends the
//! browser to the provider with a fresh state, nonce and PKCE challenge (kept in a signed,
//! short-lived cookie); `/oidc/callback` checks the state, trades the code (with the PKCE
//! verifier) for an ID token, checks its signature, audience, expiry and nonce, and starts a
//! session for the account the configured claim names.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse,
};
use serde::{Deserialize, Serialize};

use crate::pages::{Problem, respond};

/// The login cookie's name.
const LOGIN: &str = "fmn_login";

/// The provider, and how its accounts map to ours.
#[derive(Debug, Clone)]
pub struct OidcOptions {
    /// The issuer, e.g. `https://id.fedoraproject.org/openidc/` (its discovery document is
    /// read from `/.well-known/openid-configuration` below it, once, when first needed).
    pub issuer: String,
    /// This service's client id at the provider.
    pub client_id: String,
    /// Its client secret; none for a public client (PKCE alone).
    pub client_secret: Option<String>,
    /// Where the service is reached, e.g. `https://notifications.example.org`: the redirect
    /// URI registered at the provider is this and `/oidc/callback`.
    pub public_url: String,
    /// The ID token claim that holds the account name: `preferred_username` or `nickname`.
    pub username_claim: String,
    /// Accounts that may act for everyone.
    pub admins: Vec<String>,
    /// Members of these groups (the ID token's `groups` claim) may act for everyone.
    pub admin_groups: Vec<String>,
    /// Scopes asked for besides `openid`, `profile` and `email` (e.g. the one under which a
    /// provider gives `groups`).
    pub scopes: Vec<String>,
}

/// What `/login` keeps for `/oidc/callback`.
#[derive(Serialize, Deserialize)]
struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    /// Where to go once signed in: a path on this site.
    to: String,
}

/// Why a sign-in failed.
#[derive(Debug, thiserror::Error)]
enum SignInError {
    #[error("sign-in is not configured on this service")]
    NotConfigured,
    #[error("the sign-in took too long or was started elsewhere; sign in again")]
    NoPending,
    #[error("the provider's answer does not belong to this sign-in (state)")]
    State,
    #[error("the provider refused: {0}")]
    Refused(String),
    #[error("the provider cannot be used: {0}")]
    Provider(String),
    #[error("the ID token has no {0:?} claim to take the account name from")]
    NoUsername(String),
}

impl SignInError {
    fn respond(&self) -> Response {
        let status = match self {
            SignInError::NotConfigured | SignInError::Provider(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::BAD_REQUEST,
        };
        tracing::warn!("sign-in failed: {self}");
        let detail = self.to_string();
        respond(
            status,
            &Problem {
                title: "Sign-in failed",
                detail: &detail,
            },
        )
    }
}

fn provider_error(e: impl std::fmt::Display) -> SignInError {
    SignInError::Provider(e.to_string())
}

/// The provider's metadata: discovered once, then kept.
async fn metadata<S>(
    state: &crate::Shared<S>,
    oidc: &OidcOptions,
) -> Result<CoreProviderMetadata, SignInError> {
    if let Some(m) = state.provider.get() {
        return Ok(m.clone());
    }
    let issuer = IssuerUrl::new(oidc.issuer.clone()).map_err(provider_error)?;
    let m = CoreProviderMetadata::discover_async(issuer, &state.http)
        .await
        .map_err(provider_error)?;
    Ok(state.provider.get_or_init(|| m).clone())
}

/// A client of the provider, as discovered: the authorization and token endpoints come from
/// its metadata (the latter maybe absent, which `exchange_code` reports).
type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

async fn client<S>(state: &crate::Shared<S>, oidc: &OidcOptions) -> Result<Client, SignInError> {
    Ok(CoreClient::from_provider_metadata(
        metadata(state, oidc).await?,
        ClientId::new(oidc.client_id.clone()),
        oidc.client_secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(redirect_uri(oidc)?))
}

fn redirect_uri(oidc: &OidcOptions) -> Result<RedirectUrl, SignInError> {
    let base = oidc.public_url.trim_end_matches('/');
    RedirectUrl::new(format!("{base}/oidc/callback")).map_err(provider_error)
}

/// A path on this site to go back to: anything else goes to `/`.
fn local_path(to: Option<String>) -> String {
    match to {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p,
        _ => "/".to_owned(),
    }
}

#[derive(Deserialize)]
pub(crate) struct LoginQuery {
    to: Option<String>,
}

/// `GET /login`: off to the provider.
pub(crate) async fn login<S>(
    State(state): State<crate::State<S>>,
    Query(q): Query<LoginQuery>,
    headers: HeaderMap,
) -> Response {
    match start(&state, q.to, &headers).await {
        Ok(r) => r,
        Err(e) => e.respond(),
    }
}

async fn start<S>(
    state: &crate::Shared<S>,
    to: Option<String>,
    headers: &HeaderMap,
) -> Result<Response, SignInError> {
    let oidc = state.opts.oidc.as_ref().ok_or(SignInError::NotConfigured)?;
    let client = client(state, oidc).await?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let scopes = ["profile", "email"]
        .into_iter()
        .map(str::to_owned)
        .chain(oidc.scopes.iter().cloned())
        .map(Scope::new);
    let (url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scopes(scopes)
        .set_pkce_challenge(challenge)
        .url();
    let pending = Pending {
        state: csrf.secret().clone(),
        nonce: nonce.secret().clone(),
        verifier: verifier.secret().clone(),
        to: local_path(to),
    };
    let value = serde_json::to_string(&pending).unwrap_or_default();
    let jar = state
        .keys
        .jar(headers)
        .add(state.keys.cookie(LOGIN, value, 600));
    Ok((jar, Redirect::to(url.as_str())).into_response())
}

#[derive(Deserialize)]
pub(crate) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /oidc/callback`: back from the provider.
pub(crate) async fn callback<S>(
    State(state): State<crate::State<S>>,
    Query(q): Query<CallbackQuery>,
    headers: HeaderMap,
) -> Response {
    match finish(&state, q, &headers).await {
        Ok(r) => r,
        Err(e) => e.respond(),
    }
}

async fn finish<S>(
    state: &crate::Shared<S>,
    q: CallbackQuery,
    headers: &HeaderMap,
) -> Result<Response, SignInError> {
    let oidc = state.opts.oidc.as_ref().ok_or(SignInError::NotConfigured)?;
    if let Some(e) = q.error {
        return Err(SignInError::Refused(format!(
            "{e} {}",
            q.error_description.unwrap_or_default()
        )));
    }
    let jar = state.keys.jar(headers);
    let pending: Pending = jar
        .get(LOGIN)
        .and_then(|c| serde_json::from_str(c.value()).ok())
        .ok_or(SignInError::NoPending)?;
    // Compared in full: the state is the login cookie's own random value.
    if q.state.as_deref() != Some(pending.state.as_str()) {
        return Err(SignInError::State);
    }
    let code = q
        .code
        .ok_or_else(|| SignInError::Refused("no code".into()))?;
    let client = client(state, oidc).await?;
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(provider_error)?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
        .request_async(&state.http)
        .await
        .map_err(|e| SignInError::Refused(format!("the code was not accepted: {e}")))?;
    let id_token = token
        .id_token()
        .ok_or_else(|| SignInError::Refused("no ID token".into()))?;
    let claims = id_token
        .claims(&client.id_token_verifier(), &Nonce::new(pending.nonce))
        .map_err(|e| SignInError::Refused(format!("the ID token is not valid: {e}")))?;
    let user = username(claims, &oidc.username_claim)?;
    let groups = groups(&id_token.to_string());
    let admin = oidc.admins.contains(&user) || groups.iter().any(|g| oidc.admin_groups.contains(g));
    let email = claims
        .email()
        .filter(|_| claims.email_verified() == Some(true))
        .map(|e| e.to_string());
    tracing::info!(%user, admin, ?groups, "signed in");
    let jar = state.keys.start(jar.remove(LOGIN), &user, admin, email);
    Ok((jar, Redirect::to(&pending.to)).into_response())
}

/// The `groups` claim of an ID token (compact form) whose signature was checked already:
/// the crate's claims type has no place for it, so it is read from the payload itself.
fn groups(jwt: &str) -> Vec<String> {
    use base64::Engine as _;
    #[derive(Deserialize)]
    struct Groups {
        #[serde(default)]
        groups: Vec<String>,
    }
    let payload = jwt.split('.').nth(1).unwrap_or("");
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Groups>(&bytes).ok())
        .map_or_else(Vec::new, |g| g.groups)
}

/// The account name the claim `claim` gives.
fn username(claims: &CoreIdTokenClaims, claim: &str) -> Result<String, SignInError> {
    let name = match claim {
        "nickname" => claims
            .nickname()
            .and_then(|n| n.get(None))
            .map(|n| n.to_string()),
        _ => claims.preferred_username().map(|n| n.to_string()),
    };
    name.filter(|n| !n.is_empty())
        .ok_or_else(|| SignInError::NoUsername(claim.to_owned()))
}
