use fmn_rules_sdk::rule;

#[rule]
fn nothing() -> bool {
    true
}

fn main() {}
