use fmn_rules_sdk::{Args, Message, rule};
use serde::Deserialize;

#[derive(Deserialize, Args)]
pub struct TagArgs {
    pub tag: String,
}

#[rule(topics = ["*.buildsys.tag"], exact)]
fn koji_tag(msg: &Message, args: &TagArgs) -> bool {
    msg.str_at(&["tag"]) == Some(args.tag.as_str())
}

fn main() {}
