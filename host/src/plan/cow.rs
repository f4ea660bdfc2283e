//! Copy-on-write containers for the plan: a change to a few users copies the few chunks or
//! shards it touches, and shares the rest with the plan before it, which workers may still be
//! evaluating a batch with.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use hashbrown::{DefaultHashBuilder, HashTable};

/// Elements per chunk of a [`Chunked`]: a change copies one chunk, a clone of the whole
/// copies one pointer per chunk.
const CHUNK_BITS: u32 = 7;
const CHUNK: usize = 1 << CHUNK_BITS;

/// A vector in chunks of 128 elements, each shared until written.
#[derive(Debug)]
pub struct Chunked<T> {
    chunks: Vec<Arc<Vec<T>>>,
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Clone for Chunked<T> {
    fn clone(&self) -> Self {
        Chunked {
            chunks: self.chunks.clone(),
            len: self.len,
        }
    }
}

impl<T> Chunked<T> {
    /// How many elements it holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Element `i`, if there is one.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&T> {
        self.chunks.get(i >> CHUNK_BITS)?.get(i & (CHUNK - 1))
    }

    /// Every element, in order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.into_iter()
    }
}

impl<T: PartialEq> Chunked<T> {
    /// Whether `prefix`'s elements are the first of this one: what it only appended to. The
    /// chunks both share are not read.
    pub(crate) fn starts_with(&self, prefix: &Chunked<T>) -> bool {
        prefix.len <= self.len
            && prefix.chunks.iter().zip(&self.chunks).all(|(p, c)| {
                Arc::ptr_eq(p, c) || c.get(..p.len()).is_some_and(|c| c == p.as_slice())
            })
    }
}

impl<T: Clone> Chunked<T> {
    /// Appends `value`.
    pub(crate) fn push(&mut self, value: T) {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Arc::new(Vec::with_capacity(CHUNK)));
        }
        if let Some(last) = self.chunks.last_mut() {
            Arc::make_mut(last).push(value);
            self.len += 1;
        }
    }

    /// Element `i`, writable: its chunk is copied first if another plan shares it.
    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        let chunk = self.chunks.get_mut(i >> CHUNK_BITS)?;
        Arc::make_mut(chunk).get_mut(i & (CHUNK - 1))
    }
}

impl<'a, T> IntoIterator for &'a Chunked<T> {
    type Item = &'a T;
    type IntoIter = std::iter::FlatMap<
        std::slice::Iter<'a, Arc<Vec<T>>>,
        std::slice::Iter<'a, T>,
        fn(&'a Arc<Vec<T>>) -> std::slice::Iter<'a, T>,
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.chunks.iter().flat_map(|c| c.iter())
    }
}

impl<T> std::ops::Index<usize> for Chunked<T> {
    type Output = T;

    #[inline]
    fn index(&self, i: usize) -> &T {
        &self.chunks[i >> CHUNK_BITS][i & (CHUNK - 1)]
    }
}

/// Shards of a `Sharded` map: a change copies one shard, about 1/1024 of the map.
const SHARD_BITS: u32 = 10;

/// A hash map in shards, each shared until written. One hash per lookup: its middle bits pick
/// the shard (the table inside uses the low bits for the bucket and the top ones for its
/// control bytes).
#[derive(Debug, Clone)]
pub(crate) struct Sharded<K, V> {
    hasher: DefaultHashBuilder,
    shards: Vec<Arc<HashTable<(K, V)>>>,
    len: usize,
}

impl<K, V> Default for Sharded<K, V> {
    fn default() -> Self {
        Sharded {
            hasher: DefaultHashBuilder::default(),
            shards: Vec::new(),
            len: 0,
        }
    }
}

fn shard_of(hash: u64) -> usize {
    ((hash >> 32) & ((1 << SHARD_BITS) - 1)) as usize
}

impl<K, V> Sharded<K, V> {
    /// Every entry, in no order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&K, &V)> {
        self.shards
            .iter()
            .flat_map(|s| s.iter().map(|(k, v)| (k, v)))
    }

    /// The slots its tables have, used or not.
    pub(crate) fn slots(&self) -> usize {
        self.shards.iter().map(|s| s.capacity()).sum()
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Sharded<K, V> {
    /// How many keys it holds.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no key.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The value of `key`.
    #[inline]
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hasher.hash_one(key);
        self.shards
            .get(shard_of(hash))?
            .find(hash, |(k, _)| k.borrow() == key)
            .map(|(_, v)| v)
    }

    /// The value of `key`, writable (its shard copied first if shared).
    pub(crate) fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (hash, shard) = self.shard_with(key)?;
        shard
            .find_mut(hash, |(k, _)| k.borrow() == key)
            .map(|(_, v)| v)
    }

    /// The shard holding `key`, writable (copied first if shared), with the key's hash;
    /// `None` when the key is absent, so that a miss copies nothing.
    fn shard_with<Q>(&mut self, key: &Q) -> Option<(u64, &mut HashTable<(K, V)>)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hasher.hash_one(key);
        let shard = self.shards.get_mut(shard_of(hash))?;
        shard.find(hash, |(k, _)| k.borrow() == key)?;
        Some((hash, Arc::make_mut(shard)))
    }

    /// Sets `key` to `value`.
    pub(crate) fn insert(&mut self, key: K, value: V) {
        if self.shards.is_empty() {
            self.shards = (0..1 << SHARD_BITS)
                .map(|_| Arc::new(HashTable::new()))
                .collect();
        }
        let hash = self.hasher.hash_one(&key);
        let hasher = &self.hasher;
        let shard = Arc::make_mut(&mut self.shards[shard_of(hash)]);
        match shard.find_mut(hash, |(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => {
                shard.insert_unique(hash, (key, value), |(k, _)| hasher.hash_one(k));
                self.len += 1;
            }
        }
    }

    /// Removes `key`; returns its value.
    pub(crate) fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (hash, shard) = self.shard_with(key)?;
        let entry = shard.find_entry(hash, |(k, _)| k.borrow() == key).ok()?;
        let ((_, v), _) = entry.remove();
        self.len -= 1;
        Some(v)
    }
}
