use fmn_rules_sdk::{Message, rule};

#[rule(topics = "*.buildsys.tag")]
fn koji_tag(msg: &Message) -> bool {
    msg.topic().is_empty()
}

fn main() {}
