//! Avatars as fedmsg.meta made their URLs (`fasshim.avatar_url`): libravatar's picture for
//! the person's Fedora OpenID, the SHA-256 of `http://NAME.id.fedoraproject.org/`.

use sha2::{Digest, Sha256};

/// The avatar of account `name`, 64 pixels, libravatar's `retro` default; the applications
/// fedmsg.meta gave pictures of their own keep them.
pub(crate) fn avatar_url(name: &str) -> String {
    if let Some(app) = ["bodhi", "koschei", "taskotron"]
        .iter()
        .find(|a| **a == name)
    {
        return format!("https://apps.fedoraproject.org/img/icons/{app}-64.png");
    }
    let digest = Sha256::digest(format!("http://{name}.id.fedoraproject.org/").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("https://seccdn.libravatar.org/avatar/{hex}?s=64&d=retro")
}

#[cfg(test)]
mod tests {
    #[test]
    fn libravatar_of_the_openid() {
        // sha256("http://ralph.id.fedoraproject.org/"), as Python's hashlib gives it.
        assert_eq!(
            super::avatar_url("ralph"),
            "https://seccdn.libravatar.org/avatar/9c9f7784935381befc302fe3c814f9136e7a33953d0318761669b8643f4df55c?s=64&d=retro"
        );
        assert_eq!(
            super::avatar_url("bodhi"),
            "https://apps.fedoraproject.org/img/icons/bodhi-64.png"
        );
    }
}
