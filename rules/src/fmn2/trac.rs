//! fedorahosted.org's Trac instances.

use fmn_rules_sdk::{Message, RuleDef, rule, rules, topic_rules};

use super::is;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// fedorahosted: someone pushes to a git repository.
        trac_git_receive => ["*trac.git.receive"],
        /// fedorahosted: someone deletes a ticket.
        trac_ticket_delete => ["*trac.ticket.delete"],
        /// fedorahosted: someone opens a ticket.
        trac_ticket_new => ["*trac.ticket.new"],
        /// fedorahosted: someone updates a ticket.
        trac_ticket_update => ["*trac.ticket.update"],
        /// fedorahosted: someone deletes a wiki page.
        trac_wiki_page_delete => ["*trac.wiki.page.delete"],
        /// fedorahosted: someone creates a wiki page.
        trac_wiki_page_new => ["*trac.wiki.page.new"],
        /// fedorahosted: someone renames a wiki page.
        trac_wiki_page_rename => ["*trac.wiki.page.rename"],
        /// fedorahosted: someone updates a wiki page.
        trac_wiki_page_update => ["*trac.wiki.page.update"],
        /// fedorahosted: someone deletes a version of a wiki page.
        trac_wiki_page_version_delete => ["*trac.wiki.page.version.delete"],
    }
}

/// The rules that look inside the message.
pub const RULES: &[RuleDef] = rules![trac_catchall];

/// fedorahosted: all activity.
#[rule(topics = ["*trac.*"])]
pub fn trac_catchall(msg: &Message) -> bool {
    is(msg, "trac")
}
