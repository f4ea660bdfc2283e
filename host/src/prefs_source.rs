//! Where a worker's preferences come from, read again whenever the whole plan is compiled (at
//! start, after a whole import, for a module whose interface changed). A worker keeps the
//! compiled plan, not the preferences: each user is compiled as it is read and dropped.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use fmn_core::prefs::{Preferences, PrefsError, PrefsProblem, User};
use fmn_transport::{PrefsStore, TransportError};

use crate::plan::{Plan, PlanBuilder};
use crate::ruleset::RuleSet;

/// Users handed from the reading task to the compiling one at a time, at most this many
/// pages ahead.
const PAGES_AHEAD: usize = 4;

/// Where the preferences are read from: `T` is the store that keeps them (Redis in the
/// binary), for [`PrefsSource::Store`].
#[derive(Clone)]
pub enum PrefsSource<T> {
    /// Held in memory: small sets (tests, the bundled example).
    Given(Arc<Preferences>),
    /// A preferences file (JSON is read as a stream), read again for each whole compile.
    File(PathBuf),
    /// A store's preferences, read a page at a time; followed as they change.
    Store(Box<T>),
}

impl<T> From<Arc<Preferences>> for PrefsSource<T> {
    fn from(p: Arc<Preferences>) -> Self {
        PrefsSource::Given(p)
    }
}

/// Why the preferences could not be read (not: why some do not compile).
#[derive(Debug, thiserror::Error)]
pub enum PrefsSourceError {
    /// The file.
    #[error(transparent)]
    File(#[from] PrefsError),
    /// The store.
    #[error("reading the preferences from Redis: {0}")]
    Redis(#[from] TransportError),
    /// The compiling task ended without an answer.
    #[error("compiling the preferences stopped: {0}")]
    Task(String),
}

/// A whole compile: the plan of every user without problems, the others' problems, and the
/// version of the preferences read (0 outside a store).
pub struct Compiled {
    /// The plan of the users without problems.
    pub plan: Plan,
    /// Each problem, with the user, channel, filter and rule it concerns.
    pub problems: Vec<PrefsProblem>,
    /// The store's preferences version the plan holds at least; 0 for other sources.
    pub version: u64,
    /// Users read.
    pub users: usize,
}

impl<T: PrefsStore> PrefsSource<T> {
    /// A name for logs and errors.
    pub fn name(&self) -> String {
        match self {
            PrefsSource::Given(_) => "the preferences given".into(),
            PrefsSource::File(p) => p.display().to_string(),
            // The name the binary's messages use: its store is Redis.
            PrefsSource::Store(_) => "redis".into(),
        }
    }

    /// Reads every user and compiles them against `ruleset`, off the async threads: into a
    /// new plan, or `onto` the plan of the preferences before (compiled against the same
    /// `ruleset`), where users whose new preferences have problems keep what they had and
    /// users no longer there are taken out.
    pub async fn compile(
        &self,
        ruleset: Arc<RuleSet>,
        onto: Option<Arc<Plan>>,
    ) -> Result<Compiled, PrefsSourceError> {
        match self {
            PrefsSource::Given(prefs) => {
                let prefs = prefs.clone();
                blocking(move || {
                    let mut g = Gather::new(&ruleset, onto.as_deref());
                    for (name, user) in &prefs.users {
                        g.add(name, user);
                    }
                    Ok(g.finish(0))
                })
                .await
            }
            PrefsSource::File(path) => {
                let path = path.clone();
                blocking(move || {
                    let mut g = Gather::new(&ruleset, onto.as_deref());
                    let file_problems =
                        fmn_core::prefs_stream::each_user_in_file(&path, |name, user| {
                            g.add_checked(&name, &user)
                        })?;
                    // Users the file holds with problems were not handed on: going on from a
                    // plan, they keep what they had rather than count as gone.
                    for p in &file_problems {
                        g.saw(&p.location.user);
                    }
                    let mut c = g.finish(0);
                    c.problems.extend(file_problems);
                    Ok(c)
                })
                .await
            }
            PrefsSource::Store(store) => compile_from_store(&**store, ruleset, onto).await,
        }
    }
}

/// A plan being compiled from users as they are read.
struct Gather<'r> {
    builder: PlanBuilder<'r>,
    /// Going on from a plan: the users read, so that the others can be taken out.
    seen: Option<HashSet<String>>,
}

impl<'r> Gather<'r> {
    fn new(ruleset: &'r RuleSet, onto: Option<&Plan>) -> Self {
        match onto {
            Some(plan) => Gather {
                builder: PlanBuilder::onto(ruleset, plan),
                seen: Some(HashSet::new()),
            },
            None => Gather {
                builder: PlanBuilder::new(ruleset),
                seen: None,
            },
        }
    }

    fn add(&mut self, name: &str, user: &User) {
        self.saw(name);
        self.builder.add(name, user);
    }

    /// [`Gather::add`] of a user checked for structural problems already.
    fn add_checked(&mut self, name: &str, user: &User) {
        self.saw(name);
        self.builder.add_checked(name, user);
    }

    /// Counts `name` as read, so that going on from a plan does not take them out.
    fn saw(&mut self, name: &str) {
        if let Some(seen) = &mut self.seen {
            seen.insert(name.to_owned());
        }
    }

    fn finish(mut self, version: u64) -> Compiled {
        if let Some(seen) = self.seen.take() {
            for name in self.builder.names() {
                if !seen.contains(&name) {
                    self.builder.remove(&name);
                }
            }
        }
        let users = self.builder.users();
        let (plan, problems) = self.builder.finish_partial();
        Compiled {
            plan,
            problems,
            version,
            users,
        }
    }
}

async fn blocking(
    f: impl FnOnce() -> Result<Compiled, PrefsSourceError> + Send + 'static,
) -> Result<Compiled, PrefsSourceError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PrefsSourceError::Task(e.to_string()))?
}

/// The store's users read a page at a time on this task, compiled on a blocking one as they
/// come.
async fn compile_from_store<T: PrefsStore>(
    store: &T,
    ruleset: Arc<RuleSet>,
    onto: Option<Arc<Plan>>,
) -> Result<Compiled, PrefsSourceError> {
    let mut pages = store.prefs_pages().await?;
    let version = pages.version();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<(String, User)>>(PAGES_AHEAD);
    let compiling = tokio::task::spawn_blocking(move || {
        let mut g = Gather::new(&ruleset, onto.as_deref());
        while let Some(page) = rx.blocking_recv() {
            for (name, user) in page {
                g.add(&name, &user);
            }
        }
        g.finish(version)
    });
    let read = async {
        while let Some(page) = pages.next_page().await? {
            if tx.send(page).await.is_err() {
                break;
            }
        }
        drop(tx);
        Ok::<(), TransportError>(())
    }
    .await;
    let compiled = compiling
        .await
        .map_err(|e| PrefsSourceError::Task(e.to_string()))?;
    read?;
    Ok(compiled)
}
