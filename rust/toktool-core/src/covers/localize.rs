//! Localization of validity questions: the shortest question with the same answers, cut at a
//! certain pre-token boundary of the tail (see [`super`]).

use super::probes::probes_after;
use super::CoverSearch;

/// How many token boundaries of the prefix, from the end, are tried as the local start.
const LOCAL_TRIES: usize = 4;

impl CoverSearch {
    /// The shortest equivalent validity question: `(tail[s..], prefix[k..], at_start && s == 0)`
    /// for the last token boundary `s` of `prefix` (the `k`-th) that is a certain pre-token
    /// boundary of `tail`, with the ids before it fixed; the question itself when there is none.
    pub(super) fn localize<'a>(
        &self,
        tail: &'a [u8],
        prefix: &'a [u32],
        at_start: bool,
    ) -> (&'a [u8], &'a [u32], bool) {
        let mut ends = Vec::with_capacity(prefix.len());
        let mut pos = 0;
        for &id in prefix {
            pos += self.tok.token_bytes(id).map_or(0, <[u8]>::len);
            ends.push(pos);
        }
        if pos != tail.len() || std::str::from_utf8(tail).is_err() {
            return (tail, prefix, at_start);
        }
        // Boundaries after k = len, len-1, ... prefix tokens (the end of the tail first).
        for k in (1..=prefix.len()).rev().take(LOCAL_TRIES) {
            let s = ends[k - 1];
            if self.is_certain_pretoken_start(tail, &prefix[..k], at_start) {
                return (&tail[s..], &prefix[k..], false);
            }
        }
        (tail, prefix, at_start)
    }

    /// Whether, after `tail` followed by every probe, the encoding starts with `before` and a
    /// pre-token starts right after it.
    fn is_certain_pretoken_start(&self, tail: &[u8], before: &[u32], at_start: bool) -> bool {
        probes_after(tail).iter().all(|probe| {
            let Ok(text) =
                std::str::from_utf8(&[tail, probe.as_bytes()].concat()).map(str::to_owned)
            else {
                return false;
            };
            let Ok((ids, words)) = self.tok.encode_with_pretokens_at(&text, at_start) else {
                return false;
            };
            let k = before.len();
            if ids.len() < k || ids[..k] != *before {
                return false;
            }
            // Nothing after `s` (the end-of-text probe at the end of the tail): a boundary.
            ids.len() == k || words[k] != words[k - 1]
        })
    }
}
