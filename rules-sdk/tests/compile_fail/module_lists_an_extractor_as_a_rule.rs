use fmn_rules_sdk::{Keys, Message, extractor};

#[extractor]
fn packages(msg: &Message) -> Keys {
    msg.str_at(&["name"]).into_iter().collect()
}

fmn_rules_sdk::module! {
    name: "example",
    rules: [packages],
}

fn main() {}
