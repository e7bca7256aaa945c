//! The waiting line of one queue, in call order: priority first (higher first), then the order
//! of entering the line. Positions are derived, never stored: "how many are ahead of this
//! ticket" is answered in O(log n) by a treap whose nodes count their subtrees.
//!
//! The line knows tickets by their place (`Key`), not by id: whoever holds a ticket holds its
//! key too, so the line keeps no map of its own (at 500,000 in line that map was a third of it).

use std::cmp::{Ordering, Reverse};

use uuid::Uuid;

/// Where a ticket stands: ordered by priority (descending), then `line_seq` (ascending). Keys
/// are unique within a queue: a ticket that enters at the end takes `at_end(seq)` of the event
/// that put it in line, and one placed inside the line (a checked-in appointment) takes a free
/// value in the gap those leave between consecutive events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(Reverse<i16>, i64);

/// Free `line_seq`s between the places of two consecutive events.
pub const GAP_BITS: u32 = 16;

/// The `line_seq` of a ticket entering at the end of the line with event `seq`.
pub fn at_end(seq: i64) -> i64 {
    seq << GAP_BITS
}

/// A free `line_seq` just before `hi` and after `lo`: after every place taken between them
/// (`taken`: what other unfinished tickets of the queue hold there; out of line now, a requeue
/// may bring them back), halfway to `hi`. So a ticket put before another lands right before it
/// in the order of places, whatever lies between. Repeated moves to one spot halve the room; None
/// when there is none left.
pub fn just_before(lo: i64, hi: i64, taken: &[i64]) -> Option<i64> {
    let lo = taken.iter().copied().filter(|t| *t > lo && *t < hi).max().unwrap_or(lo);
    (hi - lo > 1).then(|| lo + (hi - lo) / 2)
}

impl Key {
    pub fn new(priority: i16, line_seq: i64) -> Key {
        Key(Reverse(priority), line_seq)
    }
}

/// 56 bytes: its heap weight is computed from the key when needed, not stored.
struct Node {
    key: Key,
    id: Uuid,
    /// Nodes in this subtree.
    size: u32,
    left: Tree,
    right: Tree,
}

type Tree = Option<Box<Node>>;

/// A queue's line.
#[derive(Default)]
pub struct Line {
    root: Tree,
}

fn size(t: &Tree) -> u32 {
    t.as_ref().map_or(0, |n| n.size)
}

fn fix(n: &mut Node) {
    n.size = 1 + size(&n.left) + size(&n.right);
}

/// The treap's heap order, from the key (splitmix64): balanced in expectation, deterministic.
fn weight(key: Key) -> u64 {
    let mut z = (key.1 as u64) ^ ((key.0 .0 as u64) << 48) ^ 0x9e37_79b9_7f4a_7c15;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Splits into keys `< key` and keys `>= key`.
fn split(t: Tree, key: Key) -> (Tree, Tree) {
    match t {
        None => (None, None),
        Some(mut n) => {
            if n.key < key {
                let (l, r) = split(n.right.take(), key);
                n.right = l;
                fix(&mut n);
                (Some(n), r)
            } else {
                let (l, r) = split(n.left.take(), key);
                n.left = r;
                fix(&mut n);
                (l, Some(n))
            }
        }
    }
}

/// Joins two trees where every key of `a` is below every key of `b`.
fn merge(a: Tree, b: Tree) -> Tree {
    match (a, b) {
        (None, t) | (t, None) => t,
        (Some(mut a), Some(mut b)) => {
            if weight(a.key) > weight(b.key) {
                a.right = merge(a.right.take(), Some(b));
                fix(&mut a);
                Some(a)
            } else {
                b.left = merge(Some(a), b.left.take());
                fix(&mut b);
                Some(b)
            }
        }
    }
}

fn remove(t: &mut Tree, key: Key) -> bool {
    let Some(n) = t else { return false };
    let removed = match key.cmp(&n.key) {
        Ordering::Less => remove(&mut n.left, key),
        Ordering::Greater => remove(&mut n.right, key),
        Ordering::Equal => {
            *t = merge(n.left.take(), n.right.take());
            return true;
        }
    };
    if removed {
        n.size -= 1;
    }
    removed
}

impl Line {
    pub fn new() -> Line {
        Line::default()
    }

    /// Tickets in line.
    pub fn len(&self) -> usize {
        size(&self.root) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.root.is_none()
    }

    /// Puts a ticket in line at `key`, which no other ticket holds.
    pub fn insert(&mut self, key: Key, id: Uuid) {
        let node = Box::new(Node { key, id, size: 1, left: None, right: None });
        let (l, r) = split(self.root.take(), key);
        self.root = merge(merge(l, Some(node)), r);
    }

    /// Takes the ticket at `key` out of line; false if none was there.
    pub fn remove(&mut self, key: Key) -> bool {
        remove(&mut self.root, key)
    }

    /// The place of the ticket at `key`: 1 for the next person, None when none is there. O(log n).
    pub fn position(&self, key: Key) -> Option<u32> {
        let mut ahead = 0;
        let mut t = &self.root;
        while let Some(n) = t {
            match key.cmp(&n.key) {
                Ordering::Less => t = &n.left,
                Ordering::Greater => {
                    ahead += size(&n.left) + 1;
                    t = &n.right;
                }
                Ordering::Equal => return Some(ahead + size(&n.left) + 1),
            }
        }
        None
    }

    /// Up to `n` tickets in call order after the first `skip`: positions `skip + 1 ..`, found
    /// in O(log n + k) by walking down the subtree sizes to the first, then in order.
    pub fn range(&self, skip: usize, n: usize) -> Vec<Uuid> {
        let mut out = Vec::with_capacity(n.min(self.len().saturating_sub(skip)));
        // The path to the first wanted node: every node on it whose left subtree holds it.
        let mut stack: Vec<&Node> = Vec::new();
        let mut t = self.root.as_deref();
        let mut skip = skip;
        while let Some(node) = t {
            let left = size(&node.left) as usize;
            if skip < left {
                stack.push(node);
                t = node.left.as_deref();
            } else if skip == left {
                stack.push(node);
                break;
            } else {
                skip -= left + 1;
                t = node.right.as_deref();
            }
        }
        // In order from there: each popped node, then its right subtree's leftmost path.
        while out.len() < n {
            let Some(node) = stack.pop() else { break };
            out.push(node.id);
            let mut t = node.right.as_deref();
            while let Some(next) = t {
                stack.push(next);
                t = next.left.as_deref();
            }
        }
        out
    }

    /// The first `n` tickets, in call order.
    pub fn first(&self, n: usize) -> Vec<Uuid> {
        let mut out = Vec::with_capacity(n.min(self.len()));
        let mut stack: Vec<&Node> = Vec::new();
        let mut t = self.root.as_deref();
        while out.len() < n {
            while let Some(node) = t {
                stack.push(node);
                t = node.left.as_deref();
            }
            let Some(node) = stack.pop() else { break };
            out.push(node.id);
            t = node.right.as_deref();
        }
        out
    }
}

impl Drop for Line {
    /// Dismantles the tree without recursion, so a huge line cannot overflow the stack.
    fn drop(&mut self) {
        let mut stack: Vec<Box<Node>> = self.root.take().into_iter().collect();
        while let Some(mut n) = stack.pop() {
            stack.extend(n.left.take());
            stack.extend(n.right.take());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn a_range_is_the_slice_of_the_line_in_call_order() {
        let mut line = Line::new();
        let mut keys = Vec::new();
        for n in 1..=300u128 {
            // Every seventh ticket has priority: it goes ahead of the others.
            let key = Key::new(i16::from(n % 7 == 0), n as i64);
            line.insert(key, id(n));
            keys.push((key, id(n)));
        }
        keys.sort();
        let order = line.first(300);
        assert_eq!(order, keys.iter().map(|k| k.1).collect::<Vec<_>>());
        for (skip, n) in [(0, 10), (1, 5), (42, 100), (299, 10), (300, 5), (0, 0), (150, 1000)] {
            let want: Vec<Uuid> = order.iter().skip(skip).take(n).copied().collect();
            assert_eq!(line.range(skip, n), want, "skip {skip}, n {n}");
        }
        for (i, (key, _)) in keys.iter().enumerate().skip(120).take(30) {
            assert_eq!(line.position(*key), Some(i as u32 + 1));
        }
    }

    #[test]
    fn just_before_lands_after_everything_taken_below() {
        assert_eq!(just_before(0, 100, &[]), Some(50));
        assert_eq!(just_before(0, 2, &[]), Some(1));
        assert_eq!(just_before(0, 1, &[]), None);
        assert_eq!(just_before(0, 2, &[1]), None);
        // After the last value taken inside (lo, hi); values outside do not count.
        assert_eq!(just_before(0, 100, &[10, 60, -5, 100, 300]), Some(80));
        assert_eq!(just_before(-100, 0, &[]), Some(-50));
    }

    #[test]
    fn just_before_never_answers_a_taken_or_outside_value() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..2_000 {
            let lo = rng.random_range(-50i64..50);
            let hi = lo + rng.random_range(0i64..20);
            let taken: Vec<i64> = (0..rng.random_range(0..10)).map(|_| rng.random_range(lo - 2..hi + 2)).collect();
            let last = taken.iter().copied().filter(|t| *t > lo && *t < hi).max().unwrap_or(lo);
            match just_before(lo, hi, &taken) {
                Some(v) => assert!(v > last && v < hi && !taken.contains(&v), "{lo} {hi} {taken:?} {v}"),
                None => assert!(hi - last <= 1, "{lo} {hi} {taken:?}"),
            }
        }
        // Moving one ticket after another into the same spot: each move halves the room.
        let (hi, mut taken) = (1i64 << GAP_BITS, Vec::new());
        while let Some(v) = just_before(0, hi, &taken) {
            taken.push(v);
        }
        assert_eq!(taken.len(), GAP_BITS as usize);
    }

    #[test]
    fn positions_follow_priority_then_arrival() {
        let mut line = Line::new();
        let (k1, k2, k3, k4) = (Key::new(0, 10), Key::new(0, 11), Key::new(5, 12), Key::new(0, 3));
        line.insert(k1, id(1));
        line.insert(k2, id(2));
        line.insert(k3, id(3)); // a priority ticket goes ahead of the rest
        line.insert(k4, id(4)); // requeued with its original place
        assert_eq!(line.first(10), vec![id(3), id(4), id(1), id(2)]);
        assert_eq!(line.position(k3), Some(1));
        assert_eq!(line.position(k2), Some(4));
        assert!(line.remove(k4));
        assert!(!line.remove(k4));
        assert_eq!(line.position(k1), Some(2));
        assert_eq!(line.position(k4), None);
        assert_eq!((line.len(), line.first(2)), (3, vec![id(3), id(1)]));
    }

    #[test]
    fn matches_a_sorted_list_through_random_changes() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut line = Line::new();
        let mut model: Vec<(Key, Uuid)> = Vec::new();
        for step in 0..5_000u128 {
            if rng.random_bool(0.6) || model.is_empty() {
                let priority = if rng.random_bool(0.1) { rng.random_range(1..3) } else { 0 };
                let key = Key::new(priority, step as i64);
                line.insert(key, id(step));
                model.push((key, id(step)));
            } else {
                let i = rng.random_range(0..model.len());
                let (gone, _) = model.swap_remove(i);
                assert!(line.remove(gone));
            }
            if step % 97 == 0 {
                model.sort();
                for (place, (key, _)) in model.iter().enumerate() {
                    assert_eq!(line.position(*key), Some(place as u32 + 1));
                }
                let ids: Vec<Uuid> = model.iter().map(|(_, t)| *t).collect();
                assert_eq!(line.first(ids.len() + 5), ids);
            }
        }
        assert_eq!(line.len(), model.len());
    }

    #[test]
    fn a_hundred_thousand_in_line_is_no_problem() {
        let mut line = Line::new();
        for i in 0..100_000u128 {
            line.insert(Key::new(0, i as i64), id(i));
        }
        assert_eq!(line.position(Key::new(0, 99_999)), Some(100_000));
        assert_eq!(line.position(Key::new(0, 50_000)), Some(50_001));
        for i in 0..1000 {
            line.remove(Key::new(0, i));
        }
        assert_eq!(line.position(Key::new(0, 50_000)), Some(49_001));
        assert_eq!(std::mem::size_of::<Node>(), 56, "a node is one 64-byte allocation");
    }
}
