use fmn_rules_sdk::{Message, rule};

#[rule]
fn koji(msg: &Message) {
    let _ = msg;
}

fn main() {}
