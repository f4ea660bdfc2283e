fmn_rules_sdk::module! {
    doc: "An example module.",
}

fn main() {}
