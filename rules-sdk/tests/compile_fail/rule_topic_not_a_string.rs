use fmn_rules_sdk::rule;

#[rule(topics = ["*.buildsys.build.state.change", 3])]
fn koji(msg: &fmn_rules_sdk::Message) -> bool {
    msg.topic().is_empty()
}

fn main() {}
