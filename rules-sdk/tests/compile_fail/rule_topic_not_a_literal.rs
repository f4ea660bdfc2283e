use fmn_rules_sdk::rule;

#[rule(topics = [concat!("*.buildsys", ".build.state.change")])]
fn koji(msg: &fmn_rules_sdk::Message) -> bool {
    msg.topic().is_empty()
}

fn main() {}
