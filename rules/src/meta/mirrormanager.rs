//! MirrorManager, which keeps the list of Fedora's mirrors: its crawler and netblocks in
//! the fedmsg era, its hosts and sites since (`mirrormanager-messages`).

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;
use super::py::{py_len, py_str, truthy_at};

pub(super) struct MirrorManager;

/// The host and site messages of mirrormanager-messages, by topic.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// `host.added` and the like (V1): only ids.
    HostV1(&'static str),
    /// `host.added.v2` and the like: the host and its site.
    HostV2(&'static str),
    CrawlerDisabled,
    SiteDeletedV1,
    SiteDeletedV2,
}

fn kind(msg: &Message) -> Option<Kind> {
    Some(match msg.subtopic() {
        "host.added" => Kind::HostV1("added"),
        "host.updated" => Kind::HostV1("updated"),
        "host.deleted" => Kind::HostV1("deleted"),
        "host.added.v2" => Kind::HostV2("added"),
        "host.updated.v2" => Kind::HostV2("updated"),
        "host.deleted.v2" => Kind::HostV2("deleted"),
        "crawler.host.disabled.v1" => Kind::CrawlerDisabled,
        "site.deleted" => Kind::SiteDeletedV1,
        "site.deleted.v2" => Kind::SiteDeletedV2,
        _ => return None,
    })
}

/// fedmsg.meta's sentences of the crawler and the netblocks job.
fn fedmsg_summary(msg: &Message) -> Option<String> {
    let sub = msg.subtopic();
    if sub.starts_with("crawler.complete") {
        let results = msg.get(&["results"])?.as_array()?;
        let rcs: Vec<&Value> = results.iter().map(|r| r.get("rc")).collect::<Option<_>>()?;
        let ok = rcs.iter().filter(|rc| rc.as_f64() == Some(0.0)).count();
        Some(format!(
            "mirrormanager's crawler finished a crawl of {} mirrors ({ok} succeeded, {} failed)",
            results.len(),
            results.len() - ok
        ))
    } else if sub.starts_with("crawler.start") {
        Some(format!(
            "mirrormanager's crawler started a crawl of {} mirrors",
            py_len(msg.get(&["hosts"])?)?
        ))
    } else if sub.starts_with("netblocks.get") {
        let kind = py_str(msg.get(&["type"])?);
        let status = if truthy_at(Some(msg.get(&["success"])?)) {
            "successfully updated"
        } else {
            "failed to update"
        };
        Some(format!(
            "mirrormanager's backend {status} its {kind} netblocks file"
        ))
    } else {
        None
    }
}

fn schema_summary(msg: &Message, kind: Kind) -> Option<String> {
    let at = |path: &[&str]| msg.get(path).map(py_str);
    Some(match kind {
        Kind::HostV1(what) => format!("Host on site {} has been {what}", at(&["site_id"])?),
        Kind::HostV2(what) => {
            let (host, site) = (at(&["host", "name"])?, at(&["site", "name"])?);
            let agent = at(&["agent"])?;
            match what {
                "added" => format!("Host {host} has been added to site {site} by {agent}"),
                "updated" => format!("Host {host} in site {site} has been updated by {agent}"),
                _ => format!("Host {host} has been deleted from site {site} by {agent}"),
            }
        }
        Kind::CrawlerDisabled => format!(
            "Host {} has been disabled by MirrorManager's crawler",
            at(&["host", "name"])?
        ),
        Kind::SiteDeletedV1 => format!(
            "Site {} ({}) has been deleted",
            at(&["site_name"])?,
            at(&["site_id"])?
        ),
        Kind::SiteDeletedV2 => format!(
            "Site {} ({}) has been deleted by {}",
            at(&["site", "name"])?,
            at(&["site", "id"])?,
            at(&["agent"])?
        ),
    })
}

impl Family for MirrorManager {
    /// The schemas name the message's agent; fedmsg.meta names nobody.
    fn agent_involved(&self, msg: &Message) -> bool {
        !msg.is_fedmsg()
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        // The V2 host messages (and the crawler's) concern the site's admins too.
        if matches!(kind(msg), Some(Kind::HostV2(_) | Kind::CrawlerDisabled))
            && let Some(admins) = msg.get(&["site", "admins"]).and_then(Value::as_array)
        {
            out.extend(admins.iter().filter_map(Value::as_str));
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            return fedmsg_summary(msg);
        }
        schema_summary(msg, kind(msg)?)
    }

    fn long_text(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            return None;
        }
        let at = |path: &[&str]| msg.get(path).map(py_str);
        match kind(msg)? {
            Kind::HostV2(_) => Some(format!(
                "Host name: {}\nCountry: {}\nBandwitdh: {}\nSite: {}\n",
                at(&["host", "name"])?,
                at(&["host", "country"])?,
                at(&["host", "bandwidth"])?,
                at(&["site", "name"])?
            )),
            Kind::CrawlerDisabled => {
                let mut out = format!(
                    "{}\n\nThe host was crawled at {}.\nThe crawl log can be found at {}\n",
                    at(&["reason"])?,
                    at(&["crawled_at"])?,
                    at(&["logs_url"])?
                );
                if truthy_at(msg.get(&["host", "url"])) {
                    out.push_str(&format!(
                        "The host's page in MirrorManager can be found at {}\n",
                        msg.str_at(&["host", "url"])?
                    ));
                }
                Some(out)
            }
            Kind::SiteDeletedV2 => {
                let mut out = self.summary(msg)?;
                let org = msg.get(&["site", "org_url"])?;
                if truthy_at(Some(org)) {
                    out.push_str(&format!("\nOrg URL: {}", py_str(org)));
                }
                Some(out)
            }
            Kind::HostV1(_) | Kind::SiteDeletedV1 => self.summary(msg),
        }
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            return Some("https://mirrors.fedoraproject.org".into());
        }
        match kind(msg)? {
            Kind::HostV2(_) | Kind::CrawlerDisabled => {
                msg.str_at(&["host", "url"]).map(str::to_owned)
            }
            _ => None,
        }
    }
}
