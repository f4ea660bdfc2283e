//! Where people meet and talk: meetings, IRC and Matrix cookies, mailing lists, blogs, the
//! wiki, badges, elections, wallpaper contests, and FMN itself.

use fmn_rules_sdk::people::person;
use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;

pub struct Meetbot;
pub struct Cookies;
pub struct Nuancier;
pub struct Planet;
pub struct Badges;
pub struct Elections;
pub struct Wiki;
pub struct Mailman;
pub struct Fmn;
pub struct College;

fn names(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

// ---- meetbot ----------------------------------------------------------------------------

impl Family for Meetbot {
    fn agent(&self, msg: &Message) -> Option<String> {
        let key = if msg.subtopic() == "meeting.complete" {
            "end_user"
        } else {
            "start_user"
        };
        msg.str_at(&[key]).map(str::to_owned)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        if msg.is_fedmsg() {
            if let Some(a) = msg.get(&["attendees"]).and_then(Value::as_object) {
                out.extend(a.keys().map(String::as_str).filter(|n| *n != "zodbot"));
            }
            out.extend(msg.str_at(&["owner"]));
            out.extend(msg.str_at(&["details", "nick"]));
        } else {
            if let Some(a) = msg.get(&["attendees"]).and_then(Value::as_array) {
                out.extend(a.iter().filter_map(|p| p.get("name")?.as_str()));
            }
            out.extend(names(msg.get(&["chairs"])));
            out.extend(msg.str_at(&["start_user"]));
            out.extend(msg.str_at(&["end_user"]));
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let sub = msg.subtopic();
        if !msg.is_fedmsg() {
            let name = msg.str_at(&["meeting_name"])?;
            let place = msg.str_at(&["location"])?;
            return Some(match sub {
                "meeting.start" => format!("Meeting '{name}' started in {place}"),
                "meeting.complete" => format!("Meeting '{name}' in {place} finished"),
                _ => return None,
            });
        }
        let owner = person(msg.str_at(&["owner"])?);
        let channel = msg.str_at(&["channel"])?;
        let title = msg.str_at(&["meeting_topic"]);
        Some(match sub {
            "meeting.start" => format!("{owner} started meeting \"{}\" in {channel}", title?),
            "meeting.complete" => match title {
                Some(t) => format!("{owner}'s meeting titled \"{t}\" ended in {channel}"),
                None => format!("{owner}'s meeting ended in {channel}"),
            },
            "meeting.topic.update" => format!(
                "The topic of {owner}'s \"{}\" meeting changed to \"{}\" in {channel}",
                title?,
                msg.str_at(&["topic"])?
            ),
            "meeting.item.help" => format!(
                "{} called for help in the \"{}\" meeting in {channel}: \"{}\"",
                person(msg.str_at(&["details", "nick"])?),
                title?,
                msg.str_at(&["details", "line"])?
            ),
            _ => return None,
        })
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if !msg.is_fedmsg() {
            return msg.str_at(&["url"]).map(str::to_owned);
        }
        if msg.subtopic() != "meeting.complete" {
            return None;
        }
        let url = msg.str_at(&["url"])?;
        let url = url
            .strip_prefix("http://")
            .map_or_else(|| url.to_owned(), |rest| format!("https://{rest}"));
        Some(format!("{url}.html"))
    }
}

// ---- karma cookies (IRC, then Matrix's maubot) -----------------------------------------

impl Family for Cookies {
    fn long_text(&self, msg: &Message) -> Option<String> {
        let release = msg.str_at(&["fedora_release"])?;
        let this_release = msg.get(&["count_by_release", release])?;
        Some(format!(
            "{} gave a cookie to {}. They now have {} cookie(s), {this_release} of which were obtained in the Fedora {release} release cycle",
            msg.str_at(&["sender"])?,
            msg.str_at(&["recipient"])?,
            msg.get(&["total"])?
        ))
    }

    fn agent(&self, msg: &Message) -> Option<String> {
        msg.str_at(&["sender"]).map(str::to_owned)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.extend(msg.str_at(&["recipient"]));
        out.extend(msg.str_at(&["sender"]));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let to = msg.str_at(&["recipient"])?;
        match msg.subtopic() {
            "karma" => {
                let up = msg.get(&["vote"]).and_then(Value::as_i64).unwrap_or(1) > 0;
                Some(format!(
                    "{} {} {to}({}) a karma cookie in {}.  \"{}\"",
                    msg.str_at(&["agent"])?,
                    if up { "gave" } else { "took from" },
                    msg.get(&["total"])?,
                    msg.str_at(&["channel"])?,
                    msg.str_at(&["line"])?
                ))
            }
            s if s.starts_with("cookie.give") => Some(format!(
                "{} gave a cookie to {to}",
                msg.str_at(&["sender"])?
            )),
            _ => None,
        }
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if !msg.is_fedmsg() {
            return None;
        }
        Some(format!(
            "https://badges.fedoraproject.org/user/{}",
            msg.str_at(&["recipient"])?
        ))
    }
}

// ---- nuancier, the wallpaper elections ------------------------------------------------

impl Family for Nuancier {
    fn usernames(&self, msg: &Message, out: &mut Keys) {
        if msg.subtopic().starts_with("candidate.") && msg.subtopic() != "candidate.new" {
            out.extend(msg.str_at(&["candidate", "submitter"]));
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let agent = msg.str_at(&["agent"])?;
        let election = msg.str_at(&["election", "name"]);
        Some(match msg.subtopic() {
            "new" => format!(
                "{agent} created thing \"{}\" ({})",
                msg.str_at(&["thing", "name"])?,
                msg.get(&["thing", "id"])?
            ),
            "election.new" => format!("{agent} created a new election \"{}\"", election?),
            "election.update" => format!("{agent} updated the \"{}\" election", election?),
            "candidate.new" => format!(
                "{agent} uploaded a new candidate for the \"{}\" wallpaper election",
                election?
            ),
            s @ ("candidate.approved" | "candidate.denied") => format!(
                "{agent} {} {}'s \"{}\" submission to the \"{}\" wallpaper election",
                if s.ends_with("approved") {
                    "approved"
                } else {
                    "denied"
                },
                msg.str_at(&["candidate", "submitter"])?,
                msg.str_at(&["candidate", "name"])?,
                election?
            ),
            _ => return None,
        })
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if let Some(url) = msg.str_at(&["candidate", "original_url"]) {
            return Some(url.to_owned());
        }
        let id = msg.get(&["election", "id"]).and_then(Value::as_i64)?;
        Some(format!(
            "https://apps.fedoraproject.org/nuancier/election/{id}"
        ))
    }
}

// ---- planet, the blog aggregator ------------------------------------------------------

impl Family for Planet {
    fn long_text(&self, msg: &Message) -> Option<String> {
        msg.str_at(&["post", "title"]).map(str::to_owned)
    }

    fn agent(&self, msg: &Message) -> Option<String> {
        msg.str_at(&["username"]).map(str::to_owned)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.extend(msg.str_at(&["username"]));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        match msg.subtopic() {
            "post.new" => Some(format!(
                "{} posted \"{}\"",
                msg.str_at(&["username"])?,
                msg.str_at(&["post", "title"])?
            )),
            "build" => Some(format!(
                "{} has been rebuilt",
                msg.str_at(&["title"]).unwrap_or("The planet")
            )),
            _ => None,
        }
    }

    fn link(&self, msg: &Message) -> Option<String> {
        msg.str_at(&["post", "link"]).map(str::to_owned)
    }
}

// ---- badges ---------------------------------------------------------------------------

fn badge_user<'m>(msg: &'m Message) -> Option<&'m str> {
    msg.str_at(&["user", "username"])
        .or_else(|| msg.str_at(&["person", "nickname"]))
}

impl Family for Badges {
    fn long_text(&self, msg: &Message) -> Option<String> {
        msg.str_at(&["badge", "description"]).map(str::to_owned)
    }

    fn agent(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() || msg.subtopic() != "person.login.first" {
            return None;
        }
        badge_user(msg).map(str::to_owned)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.extend(badge_user(msg));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let user = badge_user(msg)?;
        let badge = msg.str_at(&["badge", "name"]);
        Some(match (msg.subtopic(), msg.is_fedmsg()) {
            ("badge.award", true) => format!("{user} has been awarded the \"{}\" badge", badge?),
            ("badge.award", false) => format!("{user} was awarded the badge `{}`", badge?),
            ("person.login.first", _) => format!("{user} logged into badges for the first time"),
            ("person.rank.advance", true) => format!(
                "{user}'s Badges rank changed from {} to {}",
                msg.get(&["old_rank"])?,
                msg.get(&["person", "rank"])?
            ),
            ("person.rank.advance", false) => format!(
                "{user}'s Badges rank changed from {} to {}",
                msg.get(&["old_rank"])?,
                msg.get(&["person", "rank"])?
            ),
            _ => return None,
        })
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if !msg.is_fedmsg() {
            return None;
        }
        Some(format!(
            "https://badges.fedoraproject.org/user/{}",
            badge_user(msg)?
        ))
    }
}

// ---- elections ------------------------------------------------------------------------

fn elector<'m>(msg: &'m Message) -> Option<&'m str> {
    msg.str_at(&["agent"]).or_else(|| msg.str_at(&["fas_user"]))
}

fn election_alias<'m>(msg: &'m Message) -> Option<&'m str> {
    msg.str_at(&["election", "alias"])
        .or_else(|| msg.str_at(&["alias"]))
}

impl Family for Elections {
    fn agent(&self, msg: &Message) -> Option<String> {
        elector(msg).map(str::to_owned)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.extend(elector(msg));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let who = elector(msg)?;
        let election = election_alias(msg)?;
        let candidate = msg.str_at(&["candidate", "name"]);
        Some(match msg.subtopic() {
            "election.new" => format!("{who} created election \"{election}\""),
            "election.edit" => format!("{who} edited election \"{election}\""),
            "candidate.new" => {
                format!(
                    "{who} added candidate \"{}\" to election \"{election}\"",
                    candidate?
                )
            }
            "candidate.edit" => {
                format!(
                    "{who} edited candidate \"{}\" of election \"{election}\"",
                    candidate?
                )
            }
            "candidate.delete" => {
                format!(
                    "{who} deleted candidate \"{}\" of election \"{election}\"",
                    candidate?
                )
            }
            _ => return None,
        })
    }

    fn link(&self, msg: &Message) -> Option<String> {
        Some(format!(
            "https://admin.fedoraproject.org/voting/about/{}",
            election_alias(msg)?
        ))
    }
}

// ---- the wiki -------------------------------------------------------------------------

impl Family for Wiki {
    fn agent(&self, msg: &Message) -> Option<String> {
        msg.str_at(&["user"]).map(str::to_owned)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        if let Some(u) = msg.str_at(&["user_text"]) {
            out.insert(u.to_lowercase());
        }
        out.extend(msg.str_at(&["user"]));
        // A user's own page concerns that user.
        if let Some(user) = msg.str_at(&["title"]).and_then(|t| t.strip_prefix("User:")) {
            out.insert(user.to_lowercase());
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        match (msg.subtopic(), msg.is_fedmsg()) {
            ("upload.complete", _) => {
                let desc = msg.str_at(&["description"]).unwrap_or_default();
                let cut: String = desc.chars().take(35).collect();
                Some(format!(
                    "{} uploaded {} to the wiki: \"{cut}...\"",
                    msg.str_at(&["user_text"])?,
                    msg.str_at(&["title", "mPrefixedText"])?
                ))
            }
            ("article.edit", true) => Some(format!(
                "{} made a wiki edit to \"{}\".",
                msg.str_at(&["user"])?,
                msg.str_at(&["title"])?
            )),
            ("article.edit", false) => Some(format!(
                "Wiki page {} was edited by {}",
                msg.str_at(&["title"])?,
                msg.str_at(&["user"])?
            )),
            _ => None,
        }
    }

    fn link(&self, msg: &Message) -> Option<String> {
        msg.str_at(&["diff_url"]).map(str::to_owned)
    }
}

// ---- mailing lists --------------------------------------------------------------------

/// The address in a `From:` header: `"Name" <a@b>` or `a@b`.
fn address(from: &str) -> &str {
    match (from.rfind('<'), from.rfind('>')) {
        (Some(a), Some(b)) if a < b => &from[a + 1..b],
        _ => from.trim(),
    }
}

impl Family for Mailman {
    fn usernames(&self, msg: &Message, out: &mut Keys) {
        if msg.is_fedmsg() {
            // An address; the worker keeps it only if it knows whose it is.
            out.extend(msg.str_at(&["msg", "from"]).map(address));
        } else {
            out.extend(names(msg.get(&["usernames"])));
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let list = msg.str_at(&["mlist", "list_name"])?;
        let subject = msg.str_at(&["msg", "subject"])?;
        let who = if msg.is_fedmsg() {
            person(address(msg.str_at(&["msg", "from"])?))
        } else {
            msg.str_at(&["sender_username"])
                .unwrap_or("someone")
                .to_owned()
        };
        let reply = msg
            .str_at(&["msg", "in-reply-to"])
            .is_some_and(|r| !r.is_empty());
        Some(if reply {
            format!("On the {list} list, {who} replied to '{subject}'")
        } else {
            format!("{who} wrote '{subject}' to the {list} list")
        })
    }

    fn link(&self, msg: &Message) -> Option<String> {
        let at = msg.str_at(&["msg", "archived-at"])?;
        let at = at.trim_start_matches('<').trim_end_matches('>');
        Some(if at.starts_with('/') {
            format!("https://lists.fedoraproject.org/archives{at}")
        } else {
            at.to_owned()
        })
    }
}

// ---- FMN itself -----------------------------------------------------------------------

fn fmn_user<'m>(msg: &'m Message) -> Option<&'m str> {
    msg.str_at(&["openid"])?
        .strip_suffix(".id.fedoraproject.org")
}

impl Family for Fmn {
    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.extend(fmn_user(msg));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let user = fmn_user(msg)?;
        let context = msg.str_at(&["context"]);
        let changed = msg.str_at(&["changed"])?;
        Some(match msg.subtopic() {
            "preference.update" => match changed {
                "enabled" => format!("{user} toggled their flow of {} messages", context?),
                other => format!("{user} updated their {} delivery {other}", context?),
            },
            "confirmation.update" => {
                format!("the {changed} of one of {user}'s pending confirmations changed")
            }
            "rule.update" => format!("{user} updated the {changed} on a fmn {} rule", context?),
            "filter.update" => format!("{user} updated the {changed} of a fmn {} filter", context?),
            _ => return None,
        })
    }

    fn link(&self, _msg: &Message) -> Option<String> {
        Some("https://apps.fedoraproject.org/notifications/".into())
    }
}

// ---- Fedora College -------------------------------------------------------------------

impl Family for College {
    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.extend(msg.str_at(&["username"]));
    }
}
