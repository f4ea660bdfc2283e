use fmn_rules_sdk::{Message, extractor};

#[extractor]
fn packages(msg: &Message) -> Vec<String> {
    msg.str_at(&["name"]).into_iter().map(str::to_owned).collect()
}

fn main() {}
