use fmn_rules_sdk::{Message, module, rule};

mod koji {
    use fmn_rules_sdk::{Message, rule};

    #[rule]
    pub fn failed(msg: &Message) -> bool {
        msg.topic().is_empty()
    }
}

#[rule]
fn failed(msg: &Message) -> bool {
    msg.topic().is_empty()
}

module! {
    name: "example",
    rules: [failed, koji::failed],
}

fn main() {}
