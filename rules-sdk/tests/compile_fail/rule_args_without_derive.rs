use fmn_rules_sdk::{Message, rule};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct PackageArgs {
    pub package: String,
}

#[rule(topics = ["*.buildsys.build.state.change"])]
fn package_is(msg: &Message, args: &PackageArgs) -> bool {
    msg.str_at(&["name"]) == Some(args.package.as_str())
}

fn main() {}
