use fmn_rules_sdk::{Keys, Message, extractor, module};

#[extractor]
fn packages(msg: &Message) -> Keys {
    msg.str_at(&["name"]).into_iter().collect()
}

module! {
    name: "example",
    extractors: [packages, packages],
}

fn main() {}
