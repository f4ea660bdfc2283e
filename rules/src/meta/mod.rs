//! What a message is about: the extractors, dispatching to each application family.

use fmn_rules_sdk::{Keys, Message, extractor};

use crate::util::user_name;

mod anitya;
mod app;
mod askbot;
pub(crate) mod avatar;
mod bodhi;
mod bugzilla;
mod ci;
mod cloud;
mod community;
mod compose;
mod copr;
mod datanommer;
mod discourse;
mod distgit;
mod faf;
mod fallback;
mod fas;
mod fedocal;
mod github;
mod greenwave;
mod happinesspacket;
mod hotness;
mod infra;
mod ipa;
mod koji;
mod mirrormanager;
mod odcs;
mod openqa;
mod pagure;
mod pkgdb;
mod pungi;
mod py;

mod qa;
mod tagger;
mod trac;
mod webhook;

/// What a family knows about its messages. Each method has a default that says nothing.
trait Family {
    /// Who did it, when the message says otherwise than with `agent`.
    fn agent(&self, _msg: &Message) -> Option<String> {
        None
    }
    /// Whether the message's `agent` is among the people it involves (it is, mostly).
    fn agent_involved(&self, _msg: &Message) -> bool {
        true
    }
    fn usernames(&self, _msg: &Message, _out: &mut Keys) {}
    fn packages(&self, _msg: &Message, _out: &mut Keys) {}
    fn groups(&self, _msg: &Message, _out: &mut Keys) {}
    fn summary(&self, _msg: &Message) -> Option<String> {
        None
    }
    /// Whether the message's class keeps fedora-messaging's own long text (its id, topic,
    /// headers and body, `Message.__str__`), as a class that defines no `__str__` does; the
    /// others say their summary unless the family gives more.
    fn default_str(&self, _msg: &Message) -> bool {
        false
    }
    /// The long human text, when it says more than the summary.
    fn long_text(&self, _msg: &Message) -> Option<String> {
        None
    }
    fn link(&self, _msg: &Message) -> Option<String> {
        None
    }
    /// The icon, when the family's definitions give one other than the category's.
    fn icon(&self, _msg: &Message) -> Option<String> {
        None
    }
    /// The application's name, when the family's definitions give one other than the
    /// category's.
    fn app_name(&self, _msg: &Message) -> Option<String> {
        None
    }
}

struct Other;
impl Family for Other {
    /// No class is known: fedora-messaging's base class says what it has.
    fn default_str(&self, _msg: &Message) -> bool {
        true
    }
}

fn family(msg: &Message) -> &'static dyn Family {
    match msg.category() {
        "buildsys" => &koji::Koji,
        "anitya" => &anitya::Anitya,
        "askbot" => &askbot::Askbot,
        "autocloud" => &cloud::Autocloud,
        "fedimg" => &cloud::Fedimg,
        "trac" => &trac::Trac,
        "fedocal" => &fedocal::Fedocal,
        "fedoratagger" => &tagger::Tagger,
        "pungi" => &pungi::Pungi,
        "hotness" => &hotness::Hotness,
        "greenwave" => &greenwave::Greenwave,
        "bugzilla" => &bugzilla::Bugzilla,
        "meetbot" => &community::Meetbot,
        "irc" | "maubot" => &community::Cookies,
        "nuancier" => &community::Nuancier,
        "planet" => &community::Planet,
        "fedbadges" | "badges" => &community::Badges,
        "fedora_elections" => &community::Elections,
        "wiki" => &community::Wiki,
        "mailman" => &community::Mailman,
        "fmn" => &community::Fmn,
        "fedoracollege" => &community::College,
        "copr" => &copr::Copr,
        "ansible" => &infra::Ansible,
        "infragit" => &infra::InfraGit,
        "nagios" => &infra::Nagios,
        "jenkins" => &infra::Jenkins,
        "mirrormanager" => &mirrormanager::MirrorManager,
        "zanata" => &infra::Zanata,
        "pdc" => &infra::Pdc,
        "releng" => &infra::Releng,
        "summershum" => &infra::Summershum,
        "koschei" => &qa::Koschei,
        "taskotron" => &qa::Taskotron,
        "rats" => &qa::Rats,
        "waiverdb" => &qa::WaiverDb,
        "mdapi" => &qa::Mdapi,
        "mbs" => &qa::Mbs,
        "discourse" => &discourse::Discourse,
        "fedora_image_uploader" => &cloud::ImageUploader,
        "kerneltest" => &qa::KernelTest,
        "bodhi" => &bodhi::Bodhi,
        "compose" => &compose::Compose,
        "fas" => &fas::Fas,
        "git" => &distgit::DistGit,
        "github" => &github::GitHub,
        "openqa" => &openqa::OpenQa,
        "ipa" => &ipa::Ipa,
        "ci" | "allpackages" => &ci::Ci,
        "pagure" => &pagure::Pagure,
        "pkgdb" => &pkgdb::Pkgdb,
        "odcs" => &odcs::Odcs,
        // copr-messaging's classes of Copr's older STOMP messages (`build.start`, ...).
        "build" | "chroot" => &copr::Copr,
        "happinesspacket" => &happinesspacket::HappinessPacket,
        "faf" => &faf::Faf,
        "datanommer" => &datanommer::Datanommer,
        "gitlab" => &webhook::GitLab,
        "forgejo" => &webhook::Forgejo,
        "pretix" => &webhook::Pretix,
        _ => &Other,
    }
}

/// Users involved in the message: who acted (`agent`), and whoever the application names
/// (build owners, update submitters, commenters, people mentioned with `@`).
#[extractor]
pub(crate) fn usernames(msg: &Message) -> Keys {
    let mut out = Keys::new();
    // The message's own `agent`; a family that knows its actor otherwise adds it itself.
    let f = family(msg);
    if let Some(a) = user_name(msg.get(&["agent"])).filter(|_| f.agent_involved(msg)) {
        out.insert(a);
    }
    f.usernames(msg, &mut out);
    out
}

/// The accounts of the people involved, as a worker without alias data names them: a
/// fedoraproject.org address stands for its local part, another email address for no account.
/// Rules evaluated inside a module see no alias table; the host maps `usernames` itself
/// (with its aliases) wherever a rule is answered from its index.
pub(crate) fn accounts(msg: &Message) -> Keys {
    usernames(msg)
        .iter()
        .filter_map(account)
        .map(str::to_owned)
        .collect()
}

/// The account a name a message gives stands for, without alias data: a fedoraproject.org
/// address stands for its local part, another email address for none.
pub fn account(name: &str) -> Option<&str> {
    match name.split_once('@') {
        None => Some(name),
        Some((local, "fedoraproject.org")) => Some(local),
        Some(_) => None,
    }
}

/// Packages involved in the message: built, updated, overridden, pushed to.
#[extractor]
pub(crate) fn packages(msg: &Message) -> Keys {
    let mut out = Keys::new();
    family(msg).packages(msg, &mut out);
    out
}

/// Groups involved in the message: account groups joined or left, groups given access.
#[extractor]
pub(crate) fn groups(msg: &Message) -> Keys {
    let mut out = Keys::new();
    family(msg).groups(msg, &mut out);
    out
}

/// Who did what the message reports, when it says: its `agent`.
#[extractor]
pub(crate) fn agent(msg: &Message) -> Option<String> {
    user_name(msg.get(&["agent"]))
        .map(str::to_owned)
        .or_else(|| family(msg).agent(msg))
}

/// The icon of the message's application (or of what it is about, such as a badge).
#[extractor]
pub(crate) fn icon(msg: &Message) -> Option<String> {
    family(msg).icon(msg).or_else(|| app::icon(msg))
}

/// The name of the application that sent the message, as its message schemas give it
/// (`bodhi`, `koji`, `Discourse`, ...).
#[extractor]
pub(crate) fn app_name(msg: &Message) -> Option<String> {
    family(msg)
        .app_name(msg)
        .or_else(|| app::app_name(msg).map(str::to_owned))
}

/// A one-line human summary of the message.
#[extractor]
pub(crate) fn summary(msg: &Message) -> Option<String> {
    family(msg).summary(msg).or_else(|| {
        let app = app_name(msg).unwrap_or_else(|| msg.category().to_owned());
        Some(fallback::summary(msg, &app, agent(msg).as_deref()))
    })
}

/// The long human text of the message (fedora-messaging's `str()`, fedmsg.meta's long form):
/// several lines where the application says more, else the summary.
#[extractor]
pub(crate) fn long_text(msg: &Message) -> Option<String> {
    let f = family(msg);
    f.long_text(msg).or_else(|| {
        if !msg.is_fedmsg() && f.default_str(msg) {
            Some(fallback::default_str(msg))
        } else {
            summary(msg)
        }
    })
}

/// A link to what the message is about.
#[extractor]
pub(crate) fn link(msg: &Message) -> Option<String> {
    family(msg).link(msg)
}
