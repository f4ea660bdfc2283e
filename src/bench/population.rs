//! The users the benchmarks generate: the corpus' own people first, then `user000123` and so
//! on, each owning a few packages (the corpus' own spread over the first users), with FMN's
//! default filters on email and IRC. Made one user at a time, so that a benchmark of a
//! worker's memory does not hold every user's preferences itself.

use fmn_core::data::PACKAGERS;
use fmn_core::prefs::{Channel, Preferences, User};
use fmn_core::{ChannelKind, Relations};

/// Packages each generated user owns.
const PACKAGES_PER_USER: usize = 3;

/// `n` generated users, made on demand.
pub(crate) struct Population {
    names: Vec<String>,
    real_packages: Vec<String>,
    total_packages: usize,
}

impl Population {
    /// `n` users: the first of `real_users`, then generated names; the packages they own are
    /// `real_packages` first, then generated ones, half as many as users times three, so that
    /// most packages have two owners.
    pub(crate) fn new(n: usize, real_users: &[String], real_packages: &[String]) -> Self {
        let names = real_users
            .iter()
            .take(n)
            .cloned()
            .chain((real_users.len().min(n)..n).map(|i| format!("user{i:06}")))
            .collect();
        Population {
            names,
            real_packages: real_packages.to_vec(),
            total_packages: (n * PACKAGES_PER_USER / 2).max(real_packages.len()).max(1),
        }
    }

    /// How many users.
    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    /// User `i`'s name.
    pub(crate) fn name(&self, i: usize) -> &str {
        &self.names[i]
    }

    /// The packages user `i` owns.
    pub(crate) fn packages(&self, i: usize) -> impl Iterator<Item = String> + '_ {
        (0..PACKAGES_PER_USER).map(move |j| {
            let p = (i * PACKAGES_PER_USER + j) % self.total_packages;
            self.real_packages
                .get(p)
                .cloned()
                .unwrap_or_else(|| format!("pkg{p:06}"))
        })
    }

    /// User `i`'s preferences: FMN's defaults on email and IRC.
    pub(crate) fn user(&self, i: usize) -> User {
        let name = &self.names[i];
        let filters = fmn_core::presets::fmn_defaults(name);
        let channel = |address: String| Channel {
            enabled: true,
            addresses: vec![address],
            digest: None,
            filters: filters.clone(),
        };
        let mut user = User::default();
        user.channels
            .insert(ChannelKind::Email, channel(format!("{name}@example.org")));
        user.channels
            .insert(ChannelKind::Irc, channel(name.clone()));
        user
    }

    /// Who owns which package.
    pub(crate) fn relations(&self) -> Relations {
        let mut relations = Relations::new();
        for (i, name) in self.names.iter().enumerate() {
            for p in self.packages(i) {
                relations.add(PACKAGERS, &p, [name.clone()]);
            }
        }
        relations
    }

    /// Every user's preferences at once.
    pub(crate) fn preferences(&self) -> Preferences {
        let mut prefs = Preferences::default();
        for i in 0..self.len() {
            prefs.users.insert(self.names[i].clone(), self.user(i));
        }
        prefs
    }
}

/// `n` users with their preferences and who owns what: [`Population`], all at once.
pub(crate) fn population(
    n: usize,
    real_users: &[String],
    real_packages: &[String],
) -> (Preferences, Relations) {
    let p = Population::new(n, real_users, real_packages);
    (p.preferences(), p.relations())
}
