use fmn_rules_sdk::{Message, rule};

#[rule(key(extractor = "packages", arg = "package"))]
fn package_is(msg: &Message) -> bool {
    msg.topic().is_empty()
}

fn main() {}
