//! Wallpaper elections (nuancier), the blog planet, mailing lists, FMN itself, and Fedora
//! College.

use fmn_rules_sdk::people::person;
use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::names;
use crate::meta::Family;
use crate::meta::py;
use crate::meta::py::truthy;

pub(crate) struct Nuancier;
pub(crate) struct Planet;
pub(crate) struct Mailman;
pub(crate) struct Fmn;
pub(crate) struct College;

// ---- nuancier, the wallpaper elections ------------------------------------------------

impl Family for Nuancier {
    fn usernames(&self, msg: &Message, out: &mut Keys) {
        if msg.is_fedmsg() && msg.get(&["candidate"]).is_some() {
            out.extend(msg.str_at(&["candidate", "submitter"]));
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let agent = py::py_str(msg.get(&["agent"])?);
        if !msg.is_fedmsg() {
            return Some(format!(
                "{agent} created thing \"{}\" ({})",
                py::py_str(msg.get(&["thing", "name"])?),
                py::py_str(msg.get(&["thing", "id"])?)
            ));
        }
        let name = py::py_str(msg.get(&["election", "name"])?);
        let submission = |verb: &str| -> Option<String> {
            Some(format!(
                "{agent} {verb} {}'s \"{}\" submission to the \"{name}\" wallpaper election",
                py::py_str(msg.get(&["candidate", "submitter"])?),
                py::py_str(msg.get(&["candidate", "name"])?)
            ))
        };
        Some(match msg.subtopic() {
            "election.update" => {
                let details: Vec<String> = msg
                    .get(&["updated"])?
                    .as_array()?
                    .iter()
                    .map(py::py_str)
                    .collect();
                format!(
                    "{agent} changed the following details on the \"{name}\" election: {}",
                    details.join(", ")
                )
            }
            "election.new" => format!("{agent} created a new election \"{name}\""),
            "candidate.new" => {
                format!("{agent} uploaded a new candidate for the \"{name}\" wallpaper election")
            }
            "candidate.denied" => submission("denied")?,
            "candidate.approved" => submission("approved")?,
            _ => return None,
        })
    }

    fn long_text(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            return None;
        }
        Some(format!(
            "New Thing: {}\nBy: {}\n",
            py::py_str(msg.get(&["thing", "name"])?),
            py::py_str(msg.get(&["agent"])?)
        ))
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if !msg.is_fedmsg() {
            return msg.get(&["thing", "url"]).map(py::py_str);
        }
        if let Some(url) = msg.get(&["candidate", "original_url"]) {
            return Some(py::py_str(url));
        }
        // The kind of thing is the topic's fifth part (`election` of
        // `org.fedoraproject.prod.nuancier.election.new`).
        let kind = msg.topic().split('.').nth(4)?;
        let id = py::py_str(msg.get(&["election", "id"])?);
        Some(format!(
            "https://apps.fedoraproject.org/nuancier/{kind}/{id}"
        ))
    }
}

// ---- planet, the blog aggregator ------------------------------------------------------

impl Family for Planet {
    fn long_text(&self, msg: &Message) -> Option<String> {
        if !msg.is_fedmsg() {
            return self.summary(msg);
        }
        let post = msg.get(&["post"])?;
        if let Some(summary) = post.get("summary") {
            return truthy(summary).then(|| py::py_str(summary));
        }
        let first = post.get("content")?.as_array()?.first()?;
        first.get("value").filter(|v| truthy(v)).map(py::py_str)
    }

    fn agent(&self, msg: &Message) -> Option<String> {
        msg.str_at(&["username"]).map(str::to_owned)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.extend(msg.str_at(&["username"]));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let or_none = |v: Option<&Value>| v.map_or_else(|| "None".to_owned(), py::py_str);
        match (msg.subtopic(), msg.is_fedmsg()) {
            ("post.new", true) => {
                let title = msg
                    .get(&["post"])?
                    .as_object()?
                    .get("title")
                    .map_or_else(|| "(no title found)".to_owned(), py::py_str);
                Some(match msg.get(&["username"]) {
                    Some(user) => format!("{} posted \"{title}\"", py::py_str(user)),
                    None => format!("New post: \"{title}\""),
                })
            }
            ("post.new", false) => Some(format!(
                "A new post '{}' was published on planet by '{}'.",
                or_none(msg.get(&["post"])?.get("title")),
                or_none(msg.get(&["username"]))
            )),
            ("build", _) => Some(format!(
                "{} has been rebuilt",
                msg.get(&["title"])
                    .map_or_else(|| "The planet".to_owned(), py::py_str)
            )),
            _ => None,
        }
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if !msg.is_fedmsg() {
            return None;
        }
        msg.str_at(&["post", "link"]).map(str::to_owned)
    }
}

// ---- mailing lists --------------------------------------------------------------------

/// The address in a `From:` header: `"Name" <a@b>` or `a@b`.
fn address(from: &str) -> &str {
    match (from.rfind('<'), from.rfind('>')) {
        (Some(a), Some(b)) if a < b => from.get(a + 1..b).unwrap_or_default().trim(),
        _ => from.trim(),
    }
}

impl Family for Mailman {
    fn agent(&self, msg: &Message) -> Option<String> {
        // fedmsg.meta's one person: the sender, when the address names an account.
        if !msg.is_fedmsg() {
            return None;
        }
        msg.str_at(&["msg", "from"]).map(|f| address(f).to_owned())
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        if msg.is_fedmsg() {
            // An address; the worker keeps it only if it knows whose it is.
            out.extend(msg.str_at(&["msg", "from"]).map(address));
        } else {
            out.extend(names(msg.get(&["usernames"])));
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            return mailman_subtitle(msg);
        }
        let list = msg.str_at(&["mlist", "fqdn_listname"])?;
        let list = list.split_once('@').map_or(list, |(name, _)| name);
        let mail = msg.get(&["msg"])?;
        let subject = match mail.get("subject") {
            Some(s) => s.as_str()?.replace('\n', " "),
            None => String::new(),
        };
        let subject = py::str_repr(&subject);
        let who = msg
            .get(&["sender_username"])
            .filter(|v| truthy(v))
            .map_or_else(|| "someone".to_owned(), py::py_str);
        let reply = ["references", "in-reply-to"]
            .iter()
            .any(|k| mail.get(*k).is_some_and(truthy));
        Some(if reply {
            format!("On the {list} list, {who} replied to {subject}")
        } else {
            format!("{who} wrote {subject} to the {list} list")
        })
    }

    fn long_text(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            return None;
        }
        let mail = msg.get(&["msg"])?;
        let subject = match mail.get("subject") {
            Some(s) => s.as_str()?.replace('\n', " "),
            None => String::new(),
        };
        Some(format!(
            "From: {}\nDate: {}\nList-Id: {}\nSubject: {subject}\n",
            address(mail.get("from")?.as_str()?),
            mail_date(mail.get("date").and_then(Value::as_str).unwrap_or_default())?,
            py::py_str(msg.get(&["mlist", "list_id"])?)
        ))
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if !msg.is_fedmsg() {
            return msg.get(&["url"]).map(py::py_str);
        }
        let at = msg.str_at(&["msg", "archived-at"])?;
        let at = at.strip_prefix('<').unwrap_or(at);
        let at = at.strip_suffix('>').unwrap_or(at);
        if at.starts_with("http") {
            Some(at.to_owned())
        } else if !at.is_empty() {
            Some(format!("https://lists.fedoraproject.org/archives{at}"))
        } else {
            None
        }
    }
}

/// fedmsg.meta's subtitle, with the sender marked as a person (the worker names the account
/// its address stands for).
fn mailman_subtitle(msg: &Message) -> Option<String> {
    let list = py::py_str(msg.get(&["mlist", "list_name"])?);
    let mail = msg.get(&["msg"])?;
    let subject = mail.get("subject")?.as_str()?.replace('\n', " ");
    let from = address(mail.get("from")?.as_str()?);
    let who = if from.is_empty() {
        "someone".to_owned()
    } else {
        person(from)
    };
    let reply = truthy(mail.get("references")?) || truthy(mail.get("in-reply-to")?);
    Some(if reply {
        format!("On the {list} list, {who} replied to '{subject}'")
    } else {
        format!("{who} wrote '{subject}' to the {list} list")
    })
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// An RFC 2822 date as Python's `str(email.utils.parsedate_to_datetime(date))` prints it:
/// `1995-11-20 19:12:08-05:00` (no offset for `-0000`, an unknown zone).
fn mail_date(date: &str) -> Option<String> {
    let mut parts: Vec<&str> = date.split_whitespace().collect();
    if parts.first().is_some_and(|d| d.ends_with(',')) {
        parts.remove(0);
    }
    let [day, month, year, time, rest @ ..] = parts.as_slice() else {
        return None;
    };
    let day: u32 = day.parse().ok()?;
    let month = MONTHS
        .iter()
        .position(|m| month.to_ascii_lowercase().starts_with(m))?
        + 1;
    let mut year: i32 = year.parse().ok()?;
    if year < 100 {
        year += if year > 68 { 1900 } else { 2000 };
    }
    let hms: Vec<u32> = time
        .split(':')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let (h, m, s) = match hms.as_slice() {
        [h, m] => (*h, *m, 0),
        [h, m, s] => (*h, *m, *s),
        _ => return None,
    };
    let stamp = format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}:{s:02}");
    let zone = rest.first().copied().unwrap_or("-0000");
    Some(match zone_offset(zone) {
        Some(mins) => {
            let sign = if mins < 0 { '-' } else { '+' };
            let a = mins.abs();
            format!("{stamp}{sign}{:02}:{:02}", a / 60, a % 60)
        }
        None => stamp,
    })
}

/// A zone's offset in minutes; none for `-0000` (Python leaves such a time naive).
fn zone_offset(zone: &str) -> Option<i32> {
    let named = match zone.to_ascii_uppercase().as_str() {
        "UT" | "UTC" | "GMT" | "Z" => Some(0),
        "EST" => Some(-500),
        "EDT" => Some(-400),
        "CST" => Some(-600),
        "CDT" => Some(-500),
        "MST" => Some(-700),
        "MDT" => Some(-600),
        "PST" => Some(-800),
        "PDT" => Some(-700),
        _ => None,
    };
    let hhmm = match named {
        Some(n) => n,
        None => {
            if zone == "-0000" {
                return None;
            }
            zone.parse::<i32>().ok()?
        }
    };
    let sign = if hhmm < 0 { -1 } else { 1 };
    let a = hhmm.abs();
    Some(sign * ((a / 100) * 60 + a % 100))
}

// ---- FMN itself -----------------------------------------------------------------------

/// fedmsg's FMN user: the first label of the OpenID host.
fn fmn_user<'m>(msg: &'m Message) -> Option<&'m str> {
    msg.str_at(&["openid"])?.split('.').next()
}

impl Family for Fmn {
    /// fmn-messages' classes define no `__str__`.
    fn default_str(&self, _msg: &Message) -> bool {
        true
    }

    fn agent(&self, msg: &Message) -> Option<String> {
        fmn_user(msg).map(str::to_owned)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.extend(fmn_user(msg));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        // The schemas' summary is the default, the topic itself.
        if !msg.is_fedmsg() {
            return Some(msg.topic().to_owned());
        }
        let user = fmn_user(msg)?;
        let ctx = py::py_str(msg.get(&["context"])?);
        let changed = py::py_str(msg.get(&["changed"])?);
        Some(match msg.subtopic() {
            "confirmation.update" => {
                format!("the {changed} of one of {user}'s pending confirmations changed")
            }
            "rule.update" => format!("{user} updated the {changed} on a fmn {ctx} rule"),
            "filter.update" => format!("{user} updated the {changed} on a fmn {ctx} filter"),
            "preference.update" if changed == "enabled" => {
                format!("{user} toggled their flow of {ctx} messages")
            }
            "preference.update" => {
                let changed = match changed.as_str() {
                    "batch_values" => "digest options",
                    "details" => "delivery details",
                    other => other,
                };
                format!("{user} updated their {ctx} {changed}")
            }
            _ => return None,
        })
    }

    fn link(&self, msg: &Message) -> Option<String> {
        msg.is_fedmsg()
            .then(|| "https://apps.fedoraproject.org/notifications/".into())
    }

    fn app_name(&self, msg: &Message) -> Option<String> {
        (!msg.is_fedmsg()).then(|| "FMN".into())
    }
}

// ---- Fedora College -------------------------------------------------------------------

impl Family for College {
    fn agent(&self, msg: &Message) -> Option<String> {
        msg.str_at(&["username"]).map(str::to_owned)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.extend(msg.str_at(&["username"]));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let user = py::py_str(msg.get(&["username"])?);
        let title = py::py_str(msg.get(&["title"])?);
        Some(match msg.subtopic() {
            "media.upload" => format!("{user} uploaded a new file of type \"{title}\""),
            "content.added" => format!("{user} Created new content titled \"{title}\""),
            "content.edit" => format!("{user} Edited content titled \"{title}\""),
            _ => return None,
        })
    }

    fn link(&self, msg: &Message) -> Option<String> {
        msg.get(&["link"]).map(py::py_str)
    }
}
