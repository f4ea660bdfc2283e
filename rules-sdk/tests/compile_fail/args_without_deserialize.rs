use fmn_rules_sdk::Args;

#[derive(Args)]
pub struct PackageArgs {
    pub package: String,
}

fn main() {}
