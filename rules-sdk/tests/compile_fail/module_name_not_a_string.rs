fmn_rules_sdk::module! {
    name: my_rules,
}

fn main() {}
