use fmn_rules_sdk::{Message, extractor};

#[extractor]
fn packages(msg: &Message) {
    let _ = msg;
}

fn main() {}
