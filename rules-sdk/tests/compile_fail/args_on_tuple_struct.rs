use fmn_rules_sdk::Args;
use serde::Deserialize;

#[derive(Deserialize, Args)]
pub struct PackageArgs(String);

fn main() {}
