//! Fedora's infrastructure reporting on itself: ansible runs, infra git, nagios, jenkins,
//! mirrors, translations, PDC, release engineering and the tarball scanner.

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;

pub struct Ansible;
pub struct InfraGit;
pub struct Nagios;
pub struct Jenkins;
pub struct MirrorManager;
pub struct Zanata;
pub struct Pdc;
pub struct Releng;
pub struct Summershum;

const ANSIBLE_CHECKOUT: &str = "/srv/web/infra/ansible/";

// ---- ansible --------------------------------------------------------------------------

impl Family for Ansible {
    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.extend(msg.str_at(&["userid"]));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let path = msg.str_at(&["playbook"])?;
        let shown = match path.strip_prefix(ANSIBLE_CHECKOUT) {
            Some(rel) => rel,
            None => path.rsplit('/').next().unwrap_or(path),
        };
        let state = match msg.subtopic() {
            "playbook.start" => "started",
            "playbook.complete" => "completed",
            _ => return None,
        };
        Some(format!(
            "{}'s {shown} playbook run {state}",
            msg.str_at(&["userid"])?
        ))
    }

    fn link(&self, msg: &Message) -> Option<String> {
        let rel = msg.str_at(&["playbook"])?.strip_prefix(ANSIBLE_CHECKOUT)?;
        Some(format!(
            "http://infrastructure.fedoraproject.org/cgit/ansible.git/tree/{rel}"
        ))
    }
}

// ---- infrastructure git ---------------------------------------------------------------

fn infra_repo<'m>(msg: &'m Message) -> Option<&'m str> {
    msg.str_at(&["commit", "path"])?.rsplit('/').next()
}

impl Family for InfraGit {
    fn agent(&self, msg: &Message) -> Option<String> {
        msg.str_at(&["commit", "agent"])
            .or_else(|| msg.str_at(&["commit", "username"]))
            .map(str::to_owned)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.extend(msg.str_at(&["commit", "username"]));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        Some(format!(
            "{} pushed a commit to the fedora-infra {} repo ({}):  \"{}\"",
            msg.str_at(&["commit", "username"])?,
            infra_repo(msg)?,
            msg.str_at(&["commit", "branch"])?,
            msg.str_at(&["commit", "summary"])?
        ))
    }

    fn link(&self, msg: &Message) -> Option<String> {
        // Only the ansible repository is browsable.
        if infra_repo(msg)? != "ansible" {
            return None;
        }
        Some(format!(
            "https://infrastructure.fedoraproject.org/cgit/ansible.git/commit/?h={}&id={}",
            msg.str_at(&["commit", "branch"])?,
            msg.str_at(&["commit", "rev"])?
        ))
    }
}

// ---- nagios ---------------------------------------------------------------------------

fn ack_author<'m>(msg: &'m Message) -> Option<&'m str> {
    let a = msg
        .str_at(&["service_ack_author"])
        .filter(|a| !a.is_empty())
        .or_else(|| msg.str_at(&["host_ack_author"]).filter(|a| !a.is_empty()))?;
    let name = a
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/');
    Some(name.strip_suffix(".id.fedoraproject.org").unwrap_or(name))
}

impl Family for Nagios {
    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.extend(ack_author(msg));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let host = msg.str_at(&["host"])?;
        let output = msg.str_at(&["output"]);
        let kind = msg.str_at(&["type"])?;
        match (msg.subtopic(), kind) {
            (_, "ACKNOWLEDGEMENT") => Some(format!(
                "{} acknowledged that some {} is having problems on {host}",
                ack_author(msg)?,
                if msg.subtopic().starts_with("service") {
                    "service"
                } else {
                    "host"
                }
            )),
            ("host.state.change", "RECOVERY") => {
                Some(format!("{host} is back up: \"{}\"", output?))
            }
            ("host.state.change", _) => Some(format!("{host} is down: \"{}\"", output?)),
            ("service.state.change", "RECOVERY") => Some(format!(
                "{} is back up on {host}: \"{}\"",
                msg.str_at(&["service"])?,
                output?
            )),
            ("service.state.change", _) => Some(format!(
                "{} is down on {host}: \"{}\"",
                msg.str_at(&["service"])?,
                output?
            )),
            _ => None,
        }
    }

    fn link(&self, msg: &Message) -> Option<String> {
        Some(format!(
            "https://admin.fedoraproject.org/nagios/cgi-bin/status.cgi?navbarsearch=1&host={}",
            msg.str_at(&["host"])?
        ))
    }
}

// ---- jenkins --------------------------------------------------------------------------

impl Family for Jenkins {
    fn summary(&self, msg: &Message) -> Option<String> {
        let project = msg.str_at(&["project"])?;
        let what = match msg.subtopic() {
            "build.failed" => "failed to build",
            "build.aborted" => "build aborted",
            "build.notbuilt" => "did not build",
            "build.passed" | "build.success" => "built successfully",
            "build.unstable" => "built, but is unstable",
            "build.start" => "started building",
            _ => return None,
        };
        Some(format!("Jenkins project '{project}' {what}"))
    }

    fn link(&self, msg: &Message) -> Option<String> {
        Some(format!(
            "http://jenkins.cloud.fedoraproject.org/job/{}/{}/",
            msg.str_at(&["project"])?,
            msg.get(&["build"])?
        ))
    }
}

// ---- mirrormanager --------------------------------------------------------------------

impl Family for MirrorManager {
    fn long_text(&self, msg: &Message) -> Option<String> {
        let sub = msg.subtopic();
        let sub = sub
            .strip_suffix(".v1")
            .or_else(|| sub.strip_suffix(".v2"))
            .unwrap_or(sub);
        let num = |path: &[&str]| {
            msg.get(path)
                .map(|v| v.to_string().trim_matches('"').to_owned())
        };
        match sub {
            "host.added" | "host.updated" | "host.deleted" => {
                let what = &sub["host.".len()..];
                match msg.get(&["host"]) {
                    Some(_) => Some(format!(
                        "Host name: {}\nCountry: {}\nBandwitdh: {}\nSite: {}\n",
                        msg.str_at(&["host", "name"])?,
                        msg.str_at(&["host", "country"])?,
                        num(&["host", "bandwidth"])?,
                        msg.str_at(&["site", "name"])?
                    )),
                    None => Some(format!(
                        "Host on site {} has been {what}",
                        num(&["site_id"])?
                    )),
                }
            }
            "crawler.host.disabled" => {
                let mut out = format!(
                    "{}\n\nThe host was crawled at {}.\nThe crawl log can be found at {}\n",
                    msg.str_at(&["reason"])?,
                    msg.str_at(&["crawled_at"])?,
                    msg.str_at(&["logs_url"])?
                );
                if let Some(url) = msg.str_at(&["host", "url"]) {
                    out.push_str(&format!(
                        "The host's page in MirrorManager can be found at {url}\n"
                    ));
                }
                Some(out)
            }
            "site.deleted" => match msg.get(&["site"]) {
                Some(_) => {
                    let mut out = format!(
                        "Site {} ({}) has been deleted by {}",
                        msg.str_at(&["site", "name"])?,
                        num(&["site", "id"])?,
                        msg.str_at(&["agent"])?
                    );
                    if let Some(org) = msg.str_at(&["site", "org_url"]) {
                        out.push_str(&format!("\nOrg URL: {org}"));
                    }
                    Some(out)
                }
                None => Some(format!(
                    "Site {} ({}) has been deleted",
                    msg.str_at(&["site_name"])?,
                    num(&["site_id"])?
                )),
            },
            _ => None,
        }
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        // A site's admins care about its hosts; a deleted site's about nothing any more.
        if msg.subtopic().starts_with("site.") {
            return;
        }
        if let Some(admins) = msg.get(&["site", "admins"]).and_then(Value::as_array) {
            out.extend(admins.iter().filter_map(Value::as_str));
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let agent = msg.str_at(&["agent"]);
        let host = msg.str_at(&["host", "name"]);
        let site = msg.str_at(&["site", "name"]);
        Some(match msg.subtopic() {
            "crawler.start" => format!(
                "mirrormanager's crawler started a crawl of {} mirrors",
                msg.get(&["hosts"])?.as_array()?.len()
            ),
            "crawler.complete" => {
                let results = msg.get(&["results"])?.as_array()?;
                let ok = results
                    .iter()
                    .filter(|r| r.get("rc").and_then(Value::as_i64) == Some(0))
                    .count();
                format!(
                    "mirrormanager's crawler finished a crawl of {} mirrors ({ok} succeeded, {} failed)",
                    results.len(),
                    results.len() - ok
                )
            }
            "netblocks.get" => format!(
                "mirrormanager's backend {} its {} netblocks file",
                if msg.get(&["success"]).and_then(Value::as_bool) == Some(true) {
                    "successfully updated"
                } else {
                    "failed to update"
                },
                msg.str_at(&["type"])?
            ),
            "site.deleted.v2" => format!(
                "Site {} ({}) has been deleted by {}",
                site?,
                msg.get(&["site", "id"])?,
                agent?
            ),
            "host.added.v2" => {
                format!(
                    "Host {} has been added to site {} by {}",
                    host?, site?, agent?
                )
            }
            "host.updated.v2" => {
                format!(
                    "Host {} in site {} has been updated by {}",
                    host?, site?, agent?
                )
            }
            "host.deleted.v2" => {
                format!(
                    "Host {} has been deleted from site {} by {}",
                    host?, site?, agent?
                )
            }
            "crawler.host.disabled.v1" => {
                format!(
                    "Host {} has been disabled by MirrorManager's crawler",
                    host?
                )
            }
            _ => return None,
        })
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            return Some("https://mirrors.fedoraproject.org".into());
        }
        msg.str_at(&["host", "url"]).map(str::to_owned)
    }
}

// ---- zanata ---------------------------------------------------------------------------

impl Family for Zanata {
    fn summary(&self, msg: &Message) -> Option<String> {
        if msg.subtopic() != "document.milestone.event" {
            return None;
        }
        Some(format!(
            "{} from the {} project is now {} in the '{}' locale",
            msg.str_at(&["docId"])?,
            msg.str_at(&["project"])?,
            msg.str_at(&["milestone"])?.to_lowercase(),
            msg.str_at(&["locale"])?
        ))
    }

    fn link(&self, msg: &Message) -> Option<String> {
        Some(format!(
            "https://fedora.zanata.org/iteration/view/{}/{}/languages/{}",
            msg.str_at(&["project"])?,
            msg.str_at(&["version"])?,
            msg.str_at(&["locale"])?
        ))
    }
}

// ---- PDC ------------------------------------------------------------------------------

impl Family for Pdc {
    fn summary(&self, msg: &Message) -> Option<String> {
        Some(format!(
            "PDC imported metadata for {} {} for the {} {} compose",
            msg.get(&["count"])?,
            msg.str_at(&["attribute"])?,
            msg.str_at(&["compose_id"])?,
            msg.str_at(&["compose_type"])?
        ))
    }

    fn link(&self, msg: &Message) -> Option<String> {
        Some(format!(
            "https://pdc.fedoraproject.org/rest_api/v1/composes/{}/",
            msg.str_at(&["compose_id"])?
        ))
    }
}

// ---- release engineering --------------------------------------------------------------

/// The release of the first image a two-week Atomic message lists, however deep.
fn any_release(v: &Value) -> Option<&str> {
    match v {
        Value::Object(o) => o
            .get("release")
            .and_then(Value::as_str)
            .or_else(|| o.values().find_map(any_release)),
        _ => None,
    }
}

impl Family for Releng {
    fn summary(&self, msg: &Message) -> Option<String> {
        if msg.subtopic() != "atomic.twoweek.complete" {
            return None;
        }
        Some(format!(
            "A new release of Fedora {} Atomic Host is ready",
            any_release(msg.body())?
        ))
    }

    fn link(&self, msg: &Message) -> Option<String> {
        (msg.subtopic() == "atomic.twoweek.complete")
            .then(|| "https://download.fedoraproject.org/pub/alt/atomic/stable/".to_owned())
    }
}

// ---- summershum -----------------------------------------------------------------------

impl Family for Summershum {
    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.extend(msg.str_at(&["original", "agent"]));
    }

    fn packages(&self, msg: &Message, out: &mut Keys) {
        out.extend(msg.str_at(&["original", "name"]));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let file = msg.str_at(&["original", "filename"])?;
        let name = msg.str_at(&["original", "name"])?;
        Some(match msg.subtopic() {
            "ingest.start" => format!("summershum started working on {file} for {name}"),
            "ingest.complete" => format!("summershum ingested {file} for {name}"),
            "ingest.fail" => format!("yikes!  summershum failed to process {file} for {name}"),
            _ => return None,
        })
    }

    fn link(&self, msg: &Message) -> Option<String> {
        let file = msg.str_at(&["original", "filename"])?;
        Some(format!(
            "http://pkgs.fedoraproject.org/lookaside/pkgs/{}/{file}/{}/{file}",
            msg.str_at(&["original", "name"])?,
            msg.str_at(&["original", "md5sum"])?
        ))
    }
}
