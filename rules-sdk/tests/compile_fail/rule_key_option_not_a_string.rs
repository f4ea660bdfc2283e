use fmn_rules_sdk::{Args, Message, rule};
use serde::Deserialize;

#[derive(Deserialize, Args)]
pub struct PackageArgs {
    pub package: String,
}

#[rule(key(extractor = packages, arg = "package"))]
fn package_is(msg: &Message, args: &PackageArgs) -> bool {
    msg.topic() == args.package
}

fn main() {}
