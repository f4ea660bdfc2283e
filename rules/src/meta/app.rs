//! The application a message comes from: its name and its icon, as fedmsg.meta (fedmsg era)
//! and the fedora-messaging schema packages (today) give them.

use fmn_rules_sdk::Message;
use serde_json::Value;

const IMG: &str = "https://apps.fedoraproject.org/img/icons/";
const PACKAGE: &str = "https://apps.fedoraproject.org/packages/images/icons/package_128x128.png";
const CENTOS_CI: &str = "https://ci.centos.org/static/ec6de755/images/headshot.png";

/// fedmsg.meta's icon of a category: a file under apps.fedoraproject.org's icons, or a URL.
fn fedmsg_icon(category: &str) -> Option<&'static str> {
    Some(match category {
        "allpackages" | "ci" => CENTOS_CI,
        "anitya" | "hotness" | "mdapi" | "pagure" | "pkgdb" | "rats" => PACKAGE,
        "ansible" => "ansible.png",
        "askbot" => "ask_fedora.png",
        "bodhi" => "bodhi.png",
        "bugzilla" => "bugzilla.png",
        "buildsys" => {
            "https://fedoraproject.org/w/uploads/2/20/Artwork_DesignService_koji-icon-48.png"
        }
        "fas" => "https://admin.fedoraproject.org/accounts/static/theme/fas/images/account.png",
        "fedimg" => "fedimg.png",
        "fedocal" => "https://apps.fedoraproject.org/calendar/static/calendar.png",
        "fedoratagger" => "tagger.png",
        "fmn" => "fedmsg.png",
        "git" | "infragit" => "git-logo.png",
        "github" => "github.png",
        "greenwave" => "greenwave.png",
        "mbs" => "modularity.png",
        "mirrormanager" => "downloads.png",
        "nagios" => "nagios-logo.png",
        "nuancier" => "nuancier.png",
        "planet" => "planet_logo.png",
        "pungi" => "pungi.png",
        "releng" => "atomic.png",
        "summershum" => {
            "https://raw.githubusercontent.com/fedora-infra/summershum/develop/summershum.png"
        }
        "waiverdb" => "waiverdb.png",
        "wiki" => "https://fedoraproject.org/w/skins/common/images/mediawiki.png",
        "zanata" => {
            "https://pbs.twimg.com/profile_images/378800000417679469/47eb45c6205aa9f2cdb8705e6d46745c_normal.png"
        }
        _ => return None,
    })
}

/// The schema packages' `app_icon` of a category, where they differ from fedmsg.meta's.
fn schema_icon(category: &str) -> Option<&'static str> {
    Some(match category {
        "badges" | "fedbadges" => "badges.png",
        "bugzilla" => "https://bugzilla.redhat.com/extensions/RedHat/web/css/favicon.ico?v=0",
        "discourse" => "discourse.png",
        "fedocal" => "fedocal.png",
        "ipa" => "ipa.png",
        "kerneltest" => "kerneltest.png",
        "koschei" => "koschei.png",
        "mailman" => "hyperkitty.png",
        "maubot" => "maubot-fedora.png",
        "meetbot" => "meetbot.png",
        "mirrormanager" => "mirrormanager.png",
        "wiki" => "mediawiki.png",
        _ => return None,
    })
}

fn absolute(icon: &str) -> String {
    if icon.starts_with("http") {
        icon.to_owned()
    } else {
        format!("{IMG}{icon}")
    }
}

/// The message's icon: its application's; in the fedmsg era, a badge award's own image.
pub(super) fn icon(msg: &Message) -> Option<String> {
    if msg.is_fedmsg()
        && let Some(image) = msg.get(&["badge", "image_url"]).and_then(Value::as_str)
    {
        return Some(image.to_owned());
    }
    let category = msg.category();
    let icon = if msg.is_fedmsg() {
        fedmsg_icon(category)
    } else {
        schema_icon(category).or_else(|| fedmsg_icon(category))
    };
    icon.map(absolute)
}

/// The application's name as its message schemas give it (`app_name`).
pub(super) fn app_name(msg: &Message) -> Option<&'static str> {
    Some(match msg.category() {
        "anitya" => "anitya",
        "badges" | "fedbadges" => "tahrir",
        "bodhi" => "bodhi",
        "bugzilla" => "Bugzilla",
        "buildsys" => "koji",
        "copr" => "Copr",
        "discourse" => "Discourse",
        "fas" => "FAS",
        "fedocal" => "fedocal",
        "git" => "Git",
        "hotness" => "The New Hotness",
        "ipa" => "IPA",
        "kerneltest" => "kerneltest",
        "koschei" => "Koschei",
        "maubot" => "Maubot Fedora",
        "meetbot" => "meetbot",
        "mirrormanager" => "MirrorManager",
        "nuancier" => "nuancier",
        "pagure" => "pagure",
        "wiki" => "Wiki",
        _ => return None,
    })
}
