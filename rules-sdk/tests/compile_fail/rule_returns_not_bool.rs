use fmn_rules_sdk::{Message, rule};

#[rule(topics = ["*.buildsys.build.state.change"])]
fn build_state(msg: &Message) -> u64 {
    msg.get(&["new"]).and_then(|v| v.as_u64()).unwrap_or(0)
}

fn main() {}
