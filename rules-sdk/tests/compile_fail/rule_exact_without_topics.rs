use fmn_rules_sdk::{Message, rule};

#[rule(exact)]
fn koji(msg: &Message) -> bool {
    msg.topic().is_empty()
}

fn main() {}
