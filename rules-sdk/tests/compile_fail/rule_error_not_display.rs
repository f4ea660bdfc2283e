use fmn_rules_sdk::{Message, rule};

pub struct NoState;

#[rule(topics = ["*.buildsys.build.state.change"])]
fn build_failed(msg: &Message) -> Result<bool, NoState> {
    let state = msg.get(&["new"]).and_then(|v| v.as_u64()).ok_or(NoState)?;
    Ok(state == 3)
}

fn main() {}
