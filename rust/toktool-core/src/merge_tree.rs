//! Merge trees: the pairwise canonicity property of a BPE trained in merge order.
//!
//! When the merge ranks of a BPE model follow training order (every merge ranks after the merges
//! that make its two parts), BPE applies merges in increasing rank, and each token that one
//! merge makes has one merge tree: the merge that makes it, over the trees of its two parts, down
//! to single-byte units. Two adjacent tokens then stay apart (the pair is canonical) exactly when
//! no merge across their border fires: a merge of a symbol on the right edge of the left token's
//! tree with one on the left edge of the right token's, ranked before either symbol is merged
//! inside its own token (ties go to the leftmost pair). A token sequence is canonical exactly when
//! every adjacent pair is (each token being its own encoding): the cover search
//! ([`crate::covers`]) decides many candidate tokens with this pairwise check instead of running
//! BPE on the text.
//!
//! [`MergeTree`] holds the one merge that makes each token; [`MergeTree::pair_stays`] walks the
//! two edges of a pair in rank order, and [`MergeTree::pairs_stay`] checks a whole sequence.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::bpe::{Bpe, MergeMap};

/// How every token of a BPE model was merged (see the module docs).
#[derive(Debug)]
pub(crate) struct MergeTree {
    /// Unique per tree (never 0), so that per-thread buffers know whose edge they hold.
    id: u64,
    /// `(left, right, rank)` of the one merge that makes the token; `None` for units, and for
    /// tokens made by several merges or from parts without a tree (no pair check for those).
    made: Vec<Option<(u32, u32, u32)>>,
    /// Units (one byte each) and tokens with a tree.
    has_tree: Vec<bool>,
}

/// Source of `MergeTree::id`.
static NEXT_TREE_ID: AtomicU64 = AtomicU64::new(1);

impl MergeTree {
    /// The merge trees of `bpe`'s tokens (`vocab_size` ids); `None` when its merges are not
    /// in training order (or name ids past `vocab_size`).
    pub(crate) fn new(bpe: &Bpe, vocab_size: usize) -> Option<MergeTree> {
        let n = vocab_size;
        let mut has_tree = vec![false; n];
        for id in bpe.byte_ids.iter().flatten() {
            *has_tree.get_mut(*id as usize)? = true;
        }
        let mut merges: Vec<(u32, u32, u32, u32)> = bpe
            .merges
            .iter()
            .map(|(&(a, b), &(rank, c))| (rank, a, b, c))
            .collect();
        merges.sort_unstable();
        let mut made: Vec<Option<(u32, u32, u32)>> = vec![None; n];
        let mut makers = vec![0u8; n];
        // The latest rank at which each token can be made.
        let mut latest: Vec<Option<u32>> = vec![None; n];
        for &(rank, a, b, c) in &merges {
            if a as usize >= n || b as usize >= n || c as usize >= n {
                return None;
            }
            makers[c as usize] = makers[c as usize].saturating_add(1);
            latest[c as usize] = Some(rank);
        }
        for &(rank, a, b, c) in &merges {
            // Training order: every way of making a part ranks before the part is merged.
            if latest[a as usize].is_some_and(|r| r >= rank)
                || latest[b as usize].is_some_and(|r| r >= rank)
            {
                return None;
            }
            if makers[c as usize] == 1 && has_tree[a as usize] && has_tree[b as usize] {
                made[c as usize] = Some((a, b, rank));
                has_tree[c as usize] = true;
            }
        }
        let id = NEXT_TREE_ID.fetch_add(1, Ordering::Relaxed);
        Some(MergeTree { id, made, has_tree })
    }

    /// One edge of a token's merge tree, from the unit at the bottom to the token: each symbol
    /// with the rank at which it is merged into the next one (`u32::MAX` for the token itself).
    fn edge(&self, id: u32, right: bool, out: &mut Vec<(u32, u32)>) {
        out.clear();
        let mut symbol = id;
        let mut until = u32::MAX;
        loop {
            out.push((symbol, until));
            match self.made[symbol as usize] {
                Some((a, b, rank)) => {
                    until = rank;
                    symbol = if right { b } else { a };
                }
                None => break,
            }
        }
        out.reverse();
    }

    /// Whether BPE keeps `[left, right]` apart (both tokens with a tree and their own encoding).
    fn pair_stays(&self, merges: &MergeMap, left: u32, right: u32, edges: &mut Edges) -> bool {
        // The left token is often the same as in the previous call (one question, many
        // candidates): its edge is still there, ending with the token itself.
        if edges.owner != self.id || edges.left.last() != Some(&(left, u32::MAX)) {
            self.edge(left, true, &mut edges.left);
            edges.owner = self.id;
        }
        self.edge(right, false, &mut edges.right);
        let (edge_l, edge_r) = (&edges.left, &edges.right);
        let (mut i, mut j) = (0, 0);
        loop {
            let (a, until_a) = edge_l[i];
            let (b, until_b) = edge_r[j];
            // The border merge fires if it ranks before the merge that takes `a` further into
            // the left token, and no later than the one that takes `b` into the right token:
            // among equal ranks BPE merges the leftmost pair first, and the border pair is left
            // of the right token's pair.
            if let Some(&(rank, _)) = merges.get(&(a, b)) {
                if rank < until_a && rank <= until_b {
                    return false;
                }
            }
            if i + 1 == edge_l.len() && j + 1 == edge_r.len() {
                return true;
            }
            if j + 1 == edge_r.len() || (i + 1 < edge_l.len() && until_a < until_b) {
                i += 1;
            } else {
                j += 1;
            }
        }
    }

    /// Whether every adjacent pair of `ids + [t]` stays apart under `bpe` (`ids` not empty);
    /// `None` where the pair check does not apply (a token without a tree or that is not its own
    /// encoding).
    pub(crate) fn pairs_stay(
        &self,
        bpe: &Bpe,
        ids: &[u32],
        t: u32,
        edges: &mut Edges,
    ) -> Option<bool> {
        let usable = |id: u32| {
            self.has_tree.get(id as usize).copied().unwrap_or(false)
                && bpe.self_encoding.get(id as usize).copied().unwrap_or(false)
        };
        if !usable(t) || !ids.iter().all(|&id| usable(id)) {
            return None;
        }
        let last = *ids.last()?;
        Some(
            ids.windows(2)
                .all(|p| self.pair_stays(&bpe.merges, p[0], p[1], edges))
                && self.pair_stays(&bpe.merges, last, t, edges),
        )
    }
}

/// Buffers for [`MergeTree::pair_stays`]; `left` is kept between calls for the same tree.
#[derive(Default)]
pub(crate) struct Edges {
    /// `MergeTree::id` of the tree `left` was read from (0: none).
    owner: u64,
    left: Vec<(u32, u32)>,
    right: Vec<(u32, u32)>,
}
