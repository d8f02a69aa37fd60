//! Shared copies of the strings that repeat from flow to flow (protocol versions, cipher suites,
//! server names, ALPN lists, request quotes): a capture's flows name the same few over and over,
//! and every flow's result is kept until the report is written, so each flow holds a reference
//! instead of its own copy.
//!
//! The tables are per thread (classification runs on several) and bounded in entries and bytes:
//! longer strings and lists are not remembered, and a full table starts over, which costs
//! sharing, never correctness.

use std::borrow::Borrow;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::Arc;
use std::thread::LocalKey;

use crate::hash::FxBuildHasher;
use crate::model::HelloSummary;

/// Distinct strings remembered per thread.
const MAX_STRINGS: usize = 4096;
/// Longest string remembered (DNS names stop at 253 bytes).
const MAX_LEN: usize = 256;
/// Distinct string lists remembered per thread.
const MAX_LISTS: usize = 1024;
/// Longest list remembered.
const MAX_ITEMS: usize = 16;

/// Distinct hello summaries remembered per thread.
const MAX_HELLOS: usize = 1024;

/// Shared copies of values, per thread.
type Shared<T> = RefCell<HashSet<Arc<T>, FxBuildHasher>>;

/// Values remembered per thread by a key (see [`remembered`]).
pub(crate) type Remembered<K, V> = RefCell<HashMap<K, V, FxBuildHasher>>;

thread_local! {
    static HELLOS: Shared<HelloSummary> = RefCell::new(HashSet::default());
    static STRINGS: Shared<str> = RefCell::new(HashSet::default());
    static LISTS: Shared<[Arc<str>]> = RefCell::new(HashSet::default());
}

/// The copy of `value` that `table` holds, else the one `make` gives, kept in `table`; a table
/// that holds `max` starts over.
fn shared<T: ?Sized + Hash + Eq>(
    table: &'static LocalKey<Shared<T>>,
    value: &T,
    max: usize,
    make: impl FnOnce() -> Arc<T>,
) -> Arc<T> {
    table.with(|table| {
        if let Some(found) = table.borrow().get(value) {
            return Arc::clone(found);
        }
        let made = make();
        let mut table = table.borrow_mut();
        if table.len() >= max {
            table.clear();
        }
        table.insert(Arc::clone(&made));
        made
    })
}

/// The value `table` remembers for `key`, else the one `make` gives, remembered; a table that
/// holds `max` starts over. `make` may use other tables, never `table` itself.
pub(crate) fn remembered<K, Q, V>(
    table: &'static LocalKey<Remembered<K, V>>,
    key: &Q,
    max: usize,
    make: impl FnOnce() -> V,
) -> V
where
    K: Borrow<Q> + Hash + Eq,
    Q: ?Sized + Hash + Eq + ToOwned<Owned = K>,
    V: Clone,
{
    table.with(|table| {
        if let Some(found) = table.borrow().get(key) {
            return found.clone();
        }
        let made = make();
        let mut table = table.borrow_mut();
        if table.len() >= max {
            table.clear();
        }
        table.insert(key.to_owned(), made.clone());
        made
    })
}

/// `s`, shared with every earlier equal string of this thread.
pub fn str(s: &str) -> Arc<str> {
    if s.len() > MAX_LEN {
        return Arc::from(s);
    }
    shared(&STRINGS, s, MAX_STRINGS, || Arc::from(s))
}

/// `items` as a shared list of shared strings.
pub fn list<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Arc<[Arc<str>]> {
    let items: Vec<Arc<str>> = items.into_iter().map(|s| str(s.as_ref())).collect();
    if items.len() > MAX_ITEMS {
        return Arc::from(items);
    }
    shared(&LISTS, items.as_slice(), MAX_LISTS, || {
        Arc::from(items.as_slice())
    })
}

/// `hello`, shared with every earlier equal summary of this thread.
pub fn hello(hello: Arc<HelloSummary>) -> Arc<HelloSummary> {
    shared(&HELLOS, &*hello, MAX_HELLOS, || Arc::clone(&hello))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_strings_share_one_allocation() {
        let a = str("TLS_AES_128_GCM_SHA256");
        let b = str(&String::from("TLS_AES_128_GCM_SHA256"));
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&*a, "TLS_AES_128_GCM_SHA256");
        assert!(!Arc::ptr_eq(&a, &str("TLS_AES_256_GCM_SHA384")));
    }

    #[test]
    fn equal_lists_share_one_allocation() {
        let a = list(["istio-peer-exchange", "istio"]);
        let b = list(vec!["istio-peer-exchange".to_string(), "istio".to_string()]);
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.len(), 2);
        assert_eq!(&*a[1], "istio");
        assert!(!Arc::ptr_eq(&a, &list(["istio"])));
        assert!(list(Vec::<String>::new()).is_empty());
    }

    #[test]
    fn long_strings_and_lists_are_not_remembered() {
        let long = "x".repeat(MAX_LEN + 1);
        let (a, b) = (str(&long), str(&long));
        assert_eq!(a, b);
        assert!(!Arc::ptr_eq(&a, &b));
        STRINGS.with(|t| assert!(!t.borrow().contains(long.as_str())));
        let many: Vec<String> = (0..=MAX_ITEMS).map(|i| i.to_string()).collect();
        let (a, b) = (list(&many), list(&many));
        assert_eq!(a, b);
        assert!(!Arc::ptr_eq(&a, &b));
        // the strings inside are still shared
        assert!(Arc::ptr_eq(&a[3], &b[3]));
    }

    #[test]
    fn a_full_table_starts_over_and_stays_correct() {
        let first = str("first-of-many");
        for i in 0..MAX_STRINGS + 10 {
            assert_eq!(&*str(&format!("name-{i}")), format!("name-{i}"));
        }
        STRINGS.with(|t| assert!(t.borrow().len() <= MAX_STRINGS));
        let again = str("first-of-many");
        assert_eq!(first, again);
    }
}
