//! The page's changes: forms posted by a signed-in person (with the session's CSRF token),
//! each one edit of their own preferences, checked as `fmn prefs check` checks and stored
//! like every other change.

use std::collections::BTreeMap;

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use fmn_core::ChannelKind;
use fmn_core::prefs::{Filter, Preferences, RuleRef, User};
use fmn_core::prefs_edit::{self, UserEdits};
use fmn_host::Plan;
use fmn_rules_sdk::describe::{ArgDescription, RuleDescription};
use fmn_transport::{EditUserError, PrefsStore, edit_user_prefs};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::pages::{NewFilter, Problem, RuleForm, respond};
use crate::session::Session;

/// Why a form's change was not stored: the page says so, with the status.
struct Refused(StatusCode, String);

impl Refused {
    fn bad(why: impl Into<String>) -> Refused {
        Refused(StatusCode::BAD_REQUEST, why.into())
    }

    fn respond(&self) -> Response {
        respond(
            self.0,
            &Problem {
                title: "Not changed",
                detail: &self.1,
            },
        )
    }
}

/// Why a form's request has no session to act for.
pub(crate) enum Denied {
    /// None: sign in first.
    SignIn,
    /// The form's CSRF token is not the session's.
    Csrf,
}

impl Denied {
    pub(crate) fn respond(self) -> Response {
        match self {
            Denied::SignIn => Redirect::to("/login?to=/").into_response(),
            Denied::Csrf => {
                let why = "the form's CSRF token does not match the session";
                Refused(StatusCode::FORBIDDEN, why.into()).respond()
            }
        }
    }
}

/// The session of a form's request, if its CSRF token is the session's.
pub(crate) fn signed_in<S>(
    state: &crate::Shared<S>,
    headers: &HeaderMap,
    form: &BTreeMap<String, String>,
) -> Result<Session, Denied> {
    let (session, raw) = state.keys.session(headers).ok_or(Denied::SignIn)?;
    let csrf = form.get("csrf").map_or("", String::as_str);
    if !state.keys.csrf_ok(&raw, csrf) {
        return Err(Denied::Csrf);
    }
    Ok(session)
}

/// `POST /change`: one edit of the signed-in person's preferences, named by `action`.
pub(crate) async fn change<S: PrefsStore>(
    State(state): State<crate::State<S>>,
    headers: HeaderMap,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let session = match signed_in(&state, &headers, &form) {
        Ok(s) => s,
        Err(d) => return d.respond(),
    };
    let stored = match edits(&state, &session.user, &form) {
        Ok(edits) => store(&state, &session.user, &edits).await,
        Err(r) => Err(r),
    };
    match stored {
        Ok(()) => Redirect::to("/").into_response(),
        Err(r) => r.respond(),
    }
}

fn field<'f>(form: &'f BTreeMap<String, String>, name: &str) -> Result<&'f str, Refused> {
    form.get(name)
        .map(String::as_str)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| Refused::bad(format!("the form has no {name:?} field")))
}

fn channel(form: &BTreeMap<String, String>) -> Result<ChannelKind, Refused> {
    let c = field(form, "channel")?;
    c.parse().map_err(|e| Refused::bad(format!("{e}")))
}

/// The edit a form asks for.
fn edits<S>(
    state: &crate::Shared<S>,
    user: &str,
    form: &BTreeMap<String, String>,
) -> Result<UserEdits, Refused> {
    let mut e = UserEdits::default();
    let named = || -> Result<(ChannelKind, String), Refused> {
        Ok((channel(form)?, field(form, "filter")?.to_owned()))
    };
    match field(form, "action")? {
        "enable_channel" => e.enable.push(channel(form)?),
        "disable_channel" => e.disable.push(channel(form)?),
        "activate" => e.activate.push(named()?),
        "deactivate" => e.deactivate.push(named()?),
        "remove_filter" => e.remove_filter.push(named()?),
        "no_digest" => e.no_digest.push(channel(form)?),
        "digest" => {
            let spec = format!("{}={}", channel(form)?.as_str(), field(form, "digest")?);
            e.digest
                .push(prefs_edit::parse_digest(&spec).map_err(|e| Refused::bad(e.to_string()))?);
        }
        "add_filter" => e
            .add_filters
            .push((channel(form)?, new_filter(state, form)?)),
        "preset" => {
            let (kind, name) = (channel(form)?, field(form, "preset")?);
            let filters = fmn_core::presets::by_name(name, user)
                .ok_or_else(|| Refused::bad(format!("there is no preset {name:?}")))?;
            e.add_filters.extend(filters.into_iter().map(|f| (kind, f)));
        }
        other => return Err(Refused::bad(format!("{other:?} is not an action"))),
    }
    Ok(e)
}

/// The filter a "new filter" form describes: one rule from the catalogue, its arguments
/// read as the rule's description types them.
fn new_filter<S>(
    state: &crate::Shared<S>,
    form: &BTreeMap<String, String>,
) -> Result<Filter, Refused> {
    let rule = field(form, "rule")?;
    let described = catalogue(&state.rules)
        .map(|(module, r)| (format!("{module}::{}", r.name), r))
        .find(|(name, _)| name == rule)
        .map(|(_, r)| r)
        .ok_or_else(|| Refused::bad(format!("there is no rule {rule:?}")))?;
    let mut args = Map::new();
    for arg in &described.args {
        let given = form
            .get(&format!("arg.{}", arg.name))
            .map_or("", |v| v.trim());
        if let Some(v) = arg_value(arg, given)? {
            args.insert(arg.name.clone(), v);
        }
    }
    Ok(Filter {
        name: field(form, "name")?.trim().to_owned(),
        active: true,
        oneshot: form.get("oneshot").is_some_and(|v| v == "on"),
        rules: vec![RuleRef {
            rule: rule.to_owned(),
            args: Value::Object(args),
            negated: false,
        }],
    })
}

/// Every rule of `rules`, with its module's name.
pub(crate) fn catalogue(
    rules: &fmn_host::RuleSet,
) -> impl Iterator<Item = (&str, &RuleDescription)> {
    rules
        .modules()
        .iter()
        .flat_map(|m| m.description.rules.iter().map(move |r| (m.name(), r)))
}

/// An argument's value as its type says; `None` when left empty (a required one is then
/// reported by the check, naming it).
fn arg_value(arg: &ArgDescription, given: &str) -> Result<Option<Value>, Refused> {
    let bad =
        |what: &str| Refused::bad(format!("argument {:?}: {given:?} is not {what}", arg.name));
    if arg.ty == "boolean" {
        return Ok(Some(Value::Bool(given == "on" || given == "true")));
    }
    if given.is_empty() {
        return Ok(None);
    }
    Ok(Some(match arg.ty.as_str() {
        "integer" => Value::from(given.parse::<i64>().map_err(|_| bad("an integer"))?),
        "number" => Value::from(given.parse::<f64>().map_err(|_| bad("a number"))?),
        t if t.starts_with("list of") => {
            let items = given.split(',').map(str::trim).filter(|s| !s.is_empty());
            if t == "list of integer" {
                let ints: Result<Vec<i64>, _> = items.map(str::parse).collect();
                Value::from(ints.map_err(|_| bad("a list of integers"))?)
            } else {
                Value::from(items.map(str::to_owned).collect::<Vec<_>>())
            }
        }
        _ => Value::from(given),
    }))
}

/// Applies `edits` to `user`, checked against the rules, as a compare-and-set.
async fn store<S: PrefsStore>(
    state: &crate::Shared<S>,
    user: &str,
    edits: &UserEdits,
) -> Result<(), Refused> {
    let check = |current: Option<&User>| -> Result<Option<User>, Refused> {
        let new = edits
            .apply(user, current)
            .map_err(|e| Refused(StatusCode::NOT_FOUND, e.to_string()))?;
        if let Some(u) = &new {
            let mut one = Preferences::default();
            one.users.insert(user.to_owned(), u.clone());
            if let Err(problems) = Plan::build(&state.rules, &one) {
                let said: Vec<String> = problems.iter().map(ToString::to_string).collect();
                return Err(Refused(StatusCode::UNPROCESSABLE_ENTITY, said.join("; ")));
            }
        }
        Ok(new)
    };
    match edit_user_prefs(&state.store, user, check).await {
        Ok(_) => {
            tracing::info!(%user, "preferences changed on the page");
            Ok(())
        }
        Err(EditUserError::Edit(r)) => Err(r),
        Err(EditUserError::KeptChanging(_)) => Err(Refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "the preferences kept changing; try again".into(),
        )),
        Err(EditUserError::Transport(e)) => Err(Refused(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the preferences cannot be reached now: {e}"),
        )),
    }
}

#[derive(Deserialize)]
pub(crate) struct NewFilterQuery {
    channel: Option<String>,
}

/// `GET /filters/new?channel=CHANNEL`: every rule of the catalogue as a form, its arguments
/// as fields of their types.
pub(crate) async fn new_filter_page<S>(
    State(state): State<crate::State<S>>,
    Query(q): Query<NewFilterQuery>,
    headers: HeaderMap,
) -> Response {
    let Some((_, raw)) = state.keys.session(&headers) else {
        return Redirect::to("/login?to=/filters/new").into_response();
    };
    let channel = q.channel.unwrap_or_else(|| "email".into());
    let rules = catalogue(&state.rules)
        .map(|(module, r)| RuleForm::new(module, r))
        .collect();
    respond(
        StatusCode::OK,
        &NewFilter {
            channel,
            csrf: state.keys.csrf(&raw),
            rules,
        },
    )
}
