use fmn_rules_sdk::Message;

/// Not a `#[rule]`: module! cannot list it.
fn failed(msg: &Message) -> bool {
    msg.get(&["new"]).and_then(|v| v.as_u64()) == Some(3)
}

fmn_rules_sdk::module! {
    name: "example",
    rules: [failed],
}

fn main() {}
