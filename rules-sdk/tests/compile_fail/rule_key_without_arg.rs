use fmn_rules_sdk::rule;

#[rule(key(extractor = "packages"))]
fn package_is(msg: &fmn_rules_sdk::Message) -> bool {
    msg.topic().is_empty()
}

fn main() {}
