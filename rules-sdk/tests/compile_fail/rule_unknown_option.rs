use fmn_rules_sdk::rule;

#[rule(topic = ["*.buildsys.build.state.change"])]
fn koji(msg: &fmn_rules_sdk::Message) -> bool {
    msg.topic().is_empty()
}

fn main() {}
