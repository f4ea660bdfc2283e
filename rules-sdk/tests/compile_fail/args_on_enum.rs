use fmn_rules_sdk::Args;
use serde::Deserialize;

#[derive(Deserialize, Args)]
pub enum Which {
    Koji,
    Bodhi,
}

fn main() {}
