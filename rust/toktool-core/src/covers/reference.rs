//! The slow references of the cover search, which the fast paths are tested against (feature
//! `reference`, and the crate's own tests): every token checked on the whole tail, and certain
//! boundaries checked by encoding from the start of `y`.

use super::CoverSearch;
use crate::error::Result;
use crate::parallel::maybe_par_map;

impl CoverSearch {
    /// Which tokens may follow the tail ids `prefix` (whose bytes are `tail`, starting at a
    /// certain boundary; `at_start` when that boundary is the document start): `mask[t]`.
    /// Fails only on ids outside the vocabulary. Checks every token with the probes on the
    /// whole tail, without the localization and memo of [`CoverSearch::valid_among`]: the slow
    /// reference that it is tested against.
    pub fn valid_next(&self, tail: &[u8], prefix: &[u32], at_start: bool) -> Result<Vec<bool>> {
        self.check_ids(prefix)?;
        let all: Vec<u32> = (0..self.tok.vocab_size() as u32).collect();
        Ok(maybe_par_map(&all, |&t| {
            self.is_valid(tail, prefix, t, at_start)
        }))
    }

    /// The slow reference of [`CoverSearch::boundary_is_certain`]: every encode from the start
    /// of `y` (`settled_start` not used). For tests.
    #[doc(hidden)]
    pub fn boundary_is_certain_reference(&self, y: &[u8], b: usize, head: &[u32]) -> bool {
        self.boundary_is_certain_from(y, b, head, 0, 0)
    }

    /// [`CoverSearch::boundary_is_certain`], for tests against the reference.
    #[doc(hidden)]
    pub fn boundary_is_certain_fast(&self, y: &[u8], b: usize, head: &[u32]) -> bool {
        self.boundary_is_certain(y, b, head)
    }
}
