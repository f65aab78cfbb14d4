//! Certain boundaries: the last pre-token boundary of `y` that every continuation keeps, with
//! the same ids before it, where the cover search splits `y` into the shared head and the tail.

use super::probes::{completions, probes_after};
use super::CoverSearch;

impl CoverSearch {
    /// Find the last certain pre-token boundary of `y`: the head ids before it are the same in
    /// the canonical encoding of `y` followed by every probe.
    pub(super) fn certain_boundary(&self, y: &[u8]) -> (usize, Vec<u32>) {
        // Candidate boundaries: token boundaries of the encoding with the end-of-text probe,
        // tried from two pre-tokens before the end backwards.
        let Some(ids) = completions(y)
            .iter()
            .find_map(|c| self.encode_bytes(c, true))
        else {
            return (0, Vec::new());
        };
        let mut ends = Vec::with_capacity(ids.len());
        let mut pos = 0;
        for &id in &ids {
            pos += self.tok.token_bytes(id).map_or(0, <[u8]>::len);
            ends.push(pos);
        }
        // Walk back over at least the last few tokens: they may change with what follows.
        let keep_back = 3;
        let mut k = ids.len().saturating_sub(keep_back);
        while k > 0 {
            let b = ends[k - 1];
            if b < y.len() && self.boundary_is_certain(y, b, &ids[..k]) {
                return (b, ids[..k].to_vec());
            }
            k -= 1;
        }
        (0, Vec::new())
    }

    /// Whether `b` (the end of the ids `head` of `y`) is a certain boundary: `y[..b]` encodes to
    /// `head`, and `y[..b]` followed by the rest of `y` and any probe encodes to `head` followed
    /// by the encoding of that rest on its own.
    pub(super) fn boundary_is_certain(&self, y: &[u8], b: usize, head: &[u32]) -> bool {
        let (s0, k0) = self.settled_start(y, b, head).unwrap_or((0, 0));
        self.boundary_is_certain_from(y, b, head, s0, k0)
    }

    /// `boundary_is_certain` with every text encoded from `s0`, a piece boundary of `y[..b]`
    /// that no text after `y[..b]` can move, where `head[..k0]` ends (`(0, 0)`: from the start).
    pub(super) fn boundary_is_certain_from(
        &self,
        y: &[u8],
        b: usize,
        head: &[u32],
        s0: usize,
        k0: usize,
    ) -> bool {
        let tail = &y[b..];
        let local = &y[s0..b];
        let head_local = &head[k0..];
        let Some(head_again) = self.encode_bytes(local, s0 == 0) else {
            return false;
        };
        if head_again != head_local {
            return false;
        }
        completions(tail).iter().all(|completed| {
            probes_after(completed).iter().all(|probe| {
                let full = [local, completed.as_slice(), probe.as_bytes()].concat();
                match (
                    self.encode_bytes(&full, s0 == 0),
                    self.encode_bytes(&[completed.as_slice(), probe.as_bytes()].concat(), b == 0),
                ) {
                    (Some(whole), Some(rest)) => {
                        whole.starts_with(head_local) && whole[head_local.len()..] == rest[..]
                    }
                    // No canonical encoding for this probe: it says nothing either way.
                    (None, _) => true,
                    (Some(_), None) => false,
                }
            })
        })
    }

    /// A start `s0` for encoding `y[..b] + anything` locally, and the number of `head` ids
    /// before it: the last piece boundary of `y[..b]` at least three bytes before `b` that
    /// follows a non-whitespace char, with a class scanner on a plain byte-level file and no
    /// byte of `y[..b]` that could start an added token. Every piece before `s0` was decided
    /// by chars before `s0 + 3` (contractions look two chars ahead; whitespace runs end at the
    /// non-whitespace char before `s0`), so no text after `y[..b]` moves them, and the encoding
    /// of `y[..b] + x` is `head[..k0]` followed by the encoding of `y[s0..b] + x` on its own.
    fn settled_start(&self, y: &[u8], b: usize, head: &[u32]) -> Option<(usize, usize)> {
        let fast = self.fast.as_ref()?;
        if !fast.class_scanned || b < 4 {
            return None;
        }
        let text = std::str::from_utf8(&y[..b]).ok()?;
        if text.bytes().any(|x| fast.unsafe_byte[usize::from(x)]) {
            return None;
        }
        let mut bounds = Vec::new();
        if !self.piece_bounds(text, true, &mut bounds) {
            return None;
        }
        let s0 = bounds
            .iter()
            .map(|&(a, _)| a)
            .filter(|&a| {
                a > 0
                    && a + 3 <= b
                    && !text[..a]
                        .chars()
                        .next_back()
                        .is_some_and(char::is_whitespace)
            })
            .max()?;
        let mut pos = 0;
        for (k, &id) in head.iter().enumerate() {
            if pos == s0 {
                return Some((s0, k));
            }
            pos += self.tok.token_bytes(id).ok()?.len();
        }
        None
    }
}
