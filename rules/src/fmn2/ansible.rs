//! Ansible runs of the Fedora Infrastructure team.

use fmn_rules_sdk::topic_rules;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// Ansible: every message about Fedora Infrastructure's ansible runs.
        all_ansible => ["*.ansible.*"],
        /// Ansible: a playbook run of Fedora Infrastructure completes.
        playbook_complete => ["*ansible.playbook.complete"],
        /// Ansible: a playbook run of Fedora Infrastructure starts.
        playbook_started => ["*ansible.playbook.start"],
    }
}
