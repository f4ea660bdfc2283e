fmn_rules_sdk::module! {
    name: "example",
    description: "An example module.",
}

fn main() {}
