use fmn_rules_sdk::rule;

#[rule(topics = ["*.buildsys.build.state.change"])]
fn failed(topic: &str) -> bool {
    topic.ends_with(".change")
}

fn main() {}
