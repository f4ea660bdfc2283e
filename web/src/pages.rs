//! The HTML pages, from the templates in `web/templates/` (escaped as they are rendered).

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// Asks to confirm an unsubscribe link.
#[derive(Template)]
#[template(path = "unsubscribe_confirm.html")]
pub(crate) struct Confirm<'a> {
    pub(crate) user: &'a str,
    pub(crate) channel: &'a str,
    /// Empty: the whole channel.
    pub(crate) filter: &'a str,
}

/// Says what an unsubscribe link switched off.
#[derive(Template)]
#[template(path = "unsubscribe_done.html")]
pub(crate) struct Done<'a> {
    pub(crate) user: &'a str,
    pub(crate) channel: &'a str,
    pub(crate) filter: &'a str,
    /// It was off already: nothing changed.
    pub(crate) already: bool,
}

/// Says why a request could not be served.
#[derive(Template)]
#[template(path = "problem.html")]
pub(crate) struct Problem<'a> {
    pub(crate) title: &'a str,
    pub(crate) detail: &'a str,
}

/// Asks for the code the bot sent an IRC nick or a Matrix id.
#[derive(Template)]
#[template(path = "code.html")]
pub(crate) struct CodeForm<'a> {
    pub(crate) channel: &'a str,
    pub(crate) address: &'a str,
    /// When the code stops working, as the code was made with it.
    pub(crate) expires: &'a str,
    pub(crate) csrf: &'a str,
}

/// `page` as a response with `status`; a page that cannot be rendered is a 500 saying so.
pub(crate) fn respond(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!("cannot render a page: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot render the page").into_response()
        }
    }
}

/// The home page.
#[derive(Template)]
#[template(path = "home.html")]
pub(crate) struct Home {
    /// Who is signed in; none: the sign-in link.
    pub(crate) user: Option<String>,
    pub(crate) csrf: String,
    pub(crate) channels: Vec<HomeChannel>,
    /// The presets' names.
    pub(crate) presets: &'static [&'static str],
    /// The newest records of the delivery log.
    pub(crate) deliveries: Vec<DeliveryLine>,
}

/// One record of the delivery log, in plain words.
pub(crate) struct DeliveryLine {
    /// When, as `2026-12-08 10:00:00 UTC`.
    pub(crate) when: String,
    pub(crate) channel: &'static str,
    pub(crate) address: String,
    pub(crate) filter: String,
    /// The why page of its message.
    pub(crate) why_link: String,
    /// Its summary, else its topic.
    pub(crate) what: String,
    /// What became of it.
    pub(crate) outcome: String,
}

impl DeliveryLine {
    pub(crate) fn new(d: &fmn_transport::Delivery) -> DeliveryLine {
        use fmn_transport::DeliveryOutcome as O;
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_millis(d.at_ms);
        let when = humantime::format_rfc3339_seconds(when)
            .to_string()
            .replace('T', " ")
            .replace('Z', " UTC");
        let outcome = match &d.outcome {
            O::Sent => "sent".to_owned(),
            O::HeldForDigest => "held for your digest".to_owned(),
            O::SentInDigest => "sent in a digest".to_owned(),
            O::Retrying(why) => format!("failed for now, to be tried again: {why}"),
            O::Failed(why) => format!("failed: {why}"),
            O::OneshotSpent => "not sent: its one-time filter was used already".to_owned(),
        };
        DeliveryLine {
            when,
            channel: d.channel.as_str(),
            address: d.address.clone(),
            filter: d.filter.clone(),
            why_link: format!("/why?id={}", fmn_senders::email::percent(&d.message_id)),
            what: d.summary.clone().unwrap_or_else(|| d.topic.clone()),
            outcome,
        }
    }
}

/// One channel, in plain words.
pub(crate) struct HomeChannel {
    pub(crate) name: &'static str,
    pub(crate) enabled: bool,
    pub(crate) addresses: Vec<String>,
    /// Its digest as `COUNT,DELAY` (either may be empty); empty: one by one.
    pub(crate) digest: String,
    /// (name, active, what its rules say).
    pub(crate) filters: Vec<(String, bool, String)>,
}

impl HomeChannel {
    /// Channel `name`, its rules said with the first line of their doc in `rules`.
    pub(crate) fn new(
        name: &'static str,
        c: &fmn_core::prefs::Channel,
        rules: &fmn_host::RuleSet,
    ) -> HomeChannel {
        let filters = c
            .filters
            .iter()
            .map(|f| {
                let said: Vec<String> = f.rules.iter().map(|r| plain_words(r, rules)).collect();
                (f.name.clone(), f.active, said.join("; and "))
            })
            .collect();
        let digest = c.digest.map_or_else(String::new, |d| {
            let count = d.max_count.map_or_else(String::new, |n| n.to_string());
            let delay = d
                .max_delay
                .map_or_else(String::new, |t| humantime::format_duration(t).to_string());
            format!("{count},{delay}")
        });
        HomeChannel {
            name,
            digest,
            enabled: c.enabled,
            addresses: c.addresses.clone(),
            filters,
        }
    }
}

/// The page to add a filter: every rule of the catalogue as a form.
#[derive(Template)]
#[template(path = "new_filter.html")]
pub(crate) struct NewFilter {
    pub(crate) channel: String,
    pub(crate) csrf: String,
    pub(crate) rules: Vec<RuleForm>,
}

/// One rule's form.
pub(crate) struct RuleForm {
    /// `module::rule`.
    pub(crate) rule: String,
    /// An HTML id for it.
    pub(crate) id: String,
    /// The first line of its doc comment.
    pub(crate) doc: String,
    pub(crate) args: Vec<ArgField>,
}

/// One argument's field.
pub(crate) struct ArgField {
    pub(crate) name: String,
    /// `text`, `number` or `checkbox`.
    pub(crate) input: &'static str,
    pub(crate) required: bool,
    /// Its type and doc, said beside the field.
    pub(crate) hint: String,
}

impl RuleForm {
    pub(crate) fn new(module: &str, r: &fmn_rules_sdk::describe::RuleDescription) -> RuleForm {
        let id = format!("{module}-{}", r.name);
        let args = r
            .args
            .iter()
            .map(|a| ArgField {
                name: a.name.clone(),
                input: match a.ty.as_str() {
                    "boolean" => "checkbox",
                    "integer" | "number" => "number",
                    _ => "text",
                },
                required: a.required,
                hint: if a.ty.starts_with("list of") {
                    format!("{}, separated by commas. {}", a.ty, a.doc.trim())
                } else {
                    format!("{}. {}", a.ty, a.doc.trim())
                },
            })
            .collect();
        RuleForm {
            rule: format!("{module}::{}", r.name),
            id,
            doc: r.doc.lines().next().unwrap_or("").trim().to_owned(),
            args,
        }
    }
}

/// A page that says something, with a button that posts back to the same URL when `form`
/// names one.
#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct Message<'a> {
    pub(crate) title: &'a str,
    pub(crate) text: &'a str,
    /// The button's text.
    pub(crate) form: Option<&'a str>,
}

/// A rule of a filter in plain words: the first line of its doc (its name when it has none),
/// then its arguments as `name: value`.
pub(crate) fn plain_words(r: &fmn_core::prefs::RuleRef, rules: &fmn_host::RuleSet) -> String {
    let doc = crate::manage::catalogue(rules)
        .find(|(module, d)| {
            r.rule
                .strip_prefix(*module)
                .and_then(|x| x.strip_prefix("::"))
                == Some(d.name.as_str())
        })
        .and_then(|(_, d)| {
            d.doc
                .lines()
                .next()
                .map(|l| l.trim().trim_end_matches('.').to_owned())
        })
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| r.rule.clone());
    let args: Vec<String> = r
        .args
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}: {s}"),
            other => format!("{k}: {other}"),
        })
        .collect();
    let not = if r.negated { "not: " } else { "" };
    if args.is_empty() {
        format!("{not}{doc}")
    } else {
        format!("{not}{doc} ({})", args.join(", "))
    }
}

/// What the signed-in person's preferences made of one message.
#[derive(Template)]
#[template(path = "why.html")]
pub(crate) struct Why {
    pub(crate) id: String,
    pub(crate) summary: String,
    pub(crate) channels: Vec<WhyChannel>,
    /// Modules that failed on the message.
    pub(crate) failures: Vec<String>,
}

/// One channel's answer.
pub(crate) struct WhyChannel {
    pub(crate) name: &'static str,
    pub(crate) notified: bool,
    pub(crate) reason: String,
    /// (filter, what it made of the message).
    pub(crate) filters: Vec<(String, String)>,
}
