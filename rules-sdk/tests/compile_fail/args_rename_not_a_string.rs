use fmn_rules_sdk::Args;
use serde::Deserialize;

#[derive(Deserialize, Args)]
pub struct PackageArgs {
    #[serde(rename = 3)]
    pub package: String,
}

fn main() {}
