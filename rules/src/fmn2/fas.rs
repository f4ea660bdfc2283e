//! The Fedora Account System.

use fmn_rules_sdk::topic_rules;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// FAS: a group is created.
        fas_group_create => ["*fas.group.create"],
        /// FAS: someone applies to join a group.
        fas_group_member_apply => ["*fas.group.member.apply"],
        /// FAS: someone is removed from a group.
        fas_group_member_remove => ["*fas.group.member.remove"],
        /// FAS: someone is sponsored into a group.
        fas_group_member_sponsor => ["*fas.group.member.sponsor"],
        /// FAS: a group's details change.
        fas_group_update => ["*fas.group.update"],
        /// FAS: someone's role in a group changes.
        fas_role_update => ["*fas.role.update"],
        /// FAS: an account is created.
        fas_user_create => ["*fas.user.create"],
        /// FAS: someone updates their account.
        fas_user_update => ["*fas.user.update"],
    }
}
