//! ODCS, the On Demand Compose Service (`odcs`), as fedmsg.meta's `odcs.py` described it.

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;
use super::py::{py_scalar_str as py_str, truthy_at as py_truthy};

pub(super) struct Odcs;

fn compose<'m>(msg: &'m Message, key: &str) -> Option<&'m Value> {
    msg.get(&["compose", key])
}

impl Family for Odcs {
    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.insert_value(compose(msg, "owner"));
    }

    /// fedmsg.meta took its one username, the compose's owner, as the agent.
    fn agent(&self, msg: &Message) -> Option<String> {
        compose(msg, "owner")?.as_str().map(str::to_owned)
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let owner = py_str(compose(msg, "owner")?)?;
        let pungi_id = compose(msg, "pungi_compose_id")?;
        let id = if py_truthy(Some(pungi_id)) {
            py_str(pungi_id)?
        } else {
            py_str(compose(msg, "id")?)?
        };
        let state = py_str(compose(msg, "state_name")?)?;
        Some(format!("{owner}'s compose {id} entered the {state} state."))
    }

    fn link(&self, msg: &Message) -> Option<String> {
        Some(format!(
            "https://odcs.fedoraproject.org/api/1/composes/{}",
            py_str(compose(msg, "id")?)?
        ))
    }

    fn icon(&self, _msg: &Message) -> Option<String> {
        Some("https://apps.fedoraproject.org/img/icons/odcs.png".into())
    }
}
