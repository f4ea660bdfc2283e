use fmn_rules_sdk::{Keys, Message, extractor};

#[extractor(kind = "keys")]
fn packages(msg: &Message) -> Keys {
    msg.str_at(&["name"]).into_iter().collect()
}

fn main() {}
