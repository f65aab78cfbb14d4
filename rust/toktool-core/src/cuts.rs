//! Places inside a pre-token that no token can span, proven from a file's merges at load time, so
//! that one long pre-token can be merged as several short ones with the same ids.
//!
//! Why: SentencePiece-style files (`Metaspace` with `split: false`, or a `Replace(" ", "▁")`
//! normalizer and no pre-tokenizer) hand the model a whole text as one pre-token, which would
//! go through the heap merge loop and never through the pre-token cache.
//!
//! Why it is exact. Every merge `(L, R)` makes the token whose key is `key(L) + key(R)`
//! (`load_bpe` looks the product up by the two strings joined), so a merged symbol's key starts
//! with its left part's first char and ends with its right part's last char. Take a place
//! between units `x` and `y` of a piece. As long as nothing has merged across it, the symbol on
//! its left has a key ending like the unit symbol of `x`, the symbol on its right a key starting
//! like that of `y`; a merge across it would be a merge `(L, R)` whose joint is that pair of
//! chars. If the file has no such merge, nothing ever merges across, the pairs there never have
//! a rank, and the merge loop on the whole piece makes the same merges in each part as the loop
//! on each part alone (the lowest-ranked, leftmost pair of the whole is the lowest-ranked,
//! leftmost pair of its part, and a merge in one part changes no pair of another). Unknown
//! units need care: `fuse_unk` joins adjacent unknown chars into one symbol, a unit with neither
//! byte fallback nor an unknown token vanishes (so its neighbours meet), and a pending unknown
//! token waits across byte-fallback units. Hence the two kinds of cut:
//!
//! * **before `c`** (the file's space char, `▁`): where `c` follows a char other than `c`. The
//!   certificate: `c` is a vocabulary unit (so the right side is always its own symbol, which
//!   also flushes a pending unknown token), no unit ever vanishes (an unknown token or complete
//!   byte fallback), the keys of byte-fallback tokens and of the unknown token do not end with
//!   `c`, and every merge whose right part starts with `c` has a left part ending with `c`.
//! * **between two ASCII chars** `x`, `y` that are both vocabulary units and that no merge
//!   joins (no merge's left part ends with `x` while its right part starts with `y`).
//!
//! Files with `ignore_merges` (a whole pre-token found in the vocabulary is one id, merges or
//! not) and byte-level files (their pre-tokenizers already cut) get no cuts. A file that fails a
//! certificate keeps the whole-piece path for that kind of cut.

use crate::bpe::Bpe;
use crate::piece_cache::spells_at;

/// The cuts a model's merges allow. `Cuts::default()` allows none.
#[derive(Debug, Default, Clone)]
pub struct Cuts {
    /// The UTF-8 bytes of the char `c` with "cut before `c` after a char other than `c`".
    before: Option<([u8; 4], usize)>,
    /// `ascii[x] >> y & 1`: cut between ASCII chars `x` and `y`.
    ascii: Option<Box<[u128; 128]>>,
}

impl Cuts {
    /// The cuts `model`'s vocabulary and merges prove safe, `space` being the char the file
    /// writes for a space (`▁`), if any.
    pub fn certify(model: &Bpe, space: Option<char>) -> Cuts {
        if model.byte_level || model.ignore_merges {
            return Cuts::default();
        }
        let keys = keys_by_id(model);
        let joints = merge_joints(model, &keys);
        let before = space
            .filter(|&c| before_char_is_safe(model, &keys, &joints, c))
            .map(|c| {
                let mut buf = [0u8; 4];
                let len = c.encode_utf8(&mut buf).len();
                (buf, len)
            });
        let ascii = ascii_table(model, &joints);
        Cuts { before, ascii }
    }

    /// Whether any cut is allowed (else pieces go to the model whole).
    pub fn any(&self) -> bool {
        self.before.is_some() || self.ascii.is_some()
    }

    /// Hand `piece` to `f` in parts, cut at every allowed place (the whole piece when none).
    #[inline]
    pub fn for_each_part(&self, piece: &[u8], mut f: impl FnMut(&[u8])) {
        if !self.any() {
            f(piece);
            return;
        }
        let before = self.before.as_ref().map(|(buf, len)| &buf[..*len]);
        let ascii = self.ascii.as_deref();
        let mut start = 0;
        for i in 1..piece.len() {
            let b = piece[i];
            let a = piece[i - 1];
            // `c`'s first byte is ASCII or a lead byte, so it matches only where a char starts;
            // then the bytes before `i` end with `c` exactly when the char before is `c`.
            let cut =
                (b < 0x80 && a < 0x80 && ascii.is_some_and(|t| t[usize::from(a)] >> b & 1 == 1))
                    || before.is_some_and(|c| {
                        b == c[0]
                            && spells_at(piece, i, c)
                            && !(i >= c.len() && spells_at(piece, i - c.len(), c))
                    });
            if cut {
                f(&piece[start..i]);
                start = i;
            }
        }
        f(&piece[start..]);
    }
}

/// The cuts of [`Cuts`] read on a text before its spaces are written as the space char `c` (by
/// `Metaspace` or a `Replace` normalizer), so that a text need not be rewritten before it is
/// cut (and the pre-token cache can key the parts by their shorter raw bytes). On a text
/// without `c` itself, whose spaces all become `c`: "before `c` after a char other than `c`" is
/// before a space after a non-space; the ASCII cuts apply between two ASCII chars that are not
/// spaces (a space becomes `c`, which is no ASCII char). A `c` put in front of the text joins
/// the first part (no cut follows a `c`, and the text does not start with one). Only where the
/// "before" cut is certified for `c`.
#[derive(Debug, Clone)]
pub struct SpaceCuts {
    /// `table[a] >> b & 1`: cut between the raw ASCII bytes `a` and `b`.
    table: Box<[u128; 128]>,
    /// The UTF-8 of `c`.
    space: ([u8; 4], usize),
}

impl SpaceCuts {
    /// The UTF-8 of the space char.
    pub fn space(&self) -> &[u8] {
        &self.space.0[..self.space.1]
    }

    /// Hand each part of `text` to `f` with its offset: the parts [`Cuts::for_each_part`] gives on
    /// `text` with every space written as the space char. `text` must not hold that char.
    #[inline]
    pub fn for_each_part(&self, text: &[u8], mut f: impl FnMut(&[u8], usize)) {
        let mut start = 0;
        for i in 1..text.len() {
            let (a, b) = (text[i - 1], text[i]);
            // A non-ASCII byte next to a space is the end of a non-space char.
            let cut = if (a | b) < 0x80 {
                self.table[usize::from(a)] >> b & 1 == 1
            } else {
                b == b' '
            };
            if cut {
                f(&text[start..i], start);
                start = i;
            }
        }
        if start < text.len() {
            f(&text[start..], start);
        }
    }
}

impl Cuts {
    /// These cuts on text whose spaces are still spaces ([`SpaceCuts`]), when `space` is the char
    /// the "before" cut is certified for.
    pub fn on_raw_spaces(&self, space: char) -> Option<SpaceCuts> {
        let (buf, len) = self.before?;
        let mut utf8 = [0u8; 4];
        if space.encode_utf8(&mut utf8).as_bytes() != &buf[..len] || space == ' ' {
            return None;
        }
        let mut table = self.ascii.clone().unwrap_or_else(|| Box::new([0u128; 128]));
        table[usize::from(b' ')] = 0;
        for (a, row) in table.iter_mut().enumerate() {
            *row &= !(1u128 << b' ');
            if a != usize::from(b' ') {
                *row |= 1u128 << b' ';
            }
        }
        Some(SpaceCuts {
            table,
            space: (buf, len),
        })
    }
}

/// Longest leading run of the space char whose ids [`RunSplit`] keeps.
pub const MAX_RUN: usize = 64;

/// The encodings of runs of the space char `c`, where a leading run can be split from the rest
/// of a part: code's indentation makes parts like `▁▁▁▁▁▁▁▁▁▁▁▁paths` whose (depth, word)
/// pairs are too many to cache and too long to merge cheaply.
///
/// Why it is exact. The certificate ([`RunSplit::certify`]): `c` is a unit; every merge either
/// joins two runs of `c` (a *run merge*) or has no `c` in its right part and at most one, in
/// front, in its left part (`▁t` + `he`); and every run merge ranks after every other merge.
/// Take a part `c^k w` (`k >= 2`, `w` not empty and without `c`). BPE applies merges in rank
/// order, so the other merges all come first. Among them, no pair inside the run merges (both
/// sides are `c`), and no pair with a `c` on its right, so the run's units stay as they are and
/// only the last `c` can join what follows it: until the run merges start, the part merges as
/// `c w` alone would. Then only run merges are left, and they only join runs: the run (of
/// `k - 1` units, or `k` where `c w` left its `c` alone) merges as the run alone would, and the
/// rest stays. So the part's ids are those of the run and then those of `c w`, the run being
/// `c^k` when the ids of `c w` start with `c` itself (which then joins the run) and `c^(k-1)`
/// otherwise.
#[derive(Debug, Clone)]
pub struct RunSplit {
    /// The id of `c` alone.
    lone: u32,
    /// `runs[j]`: the ids of `c^j`, for `j` from 0 to [`MAX_RUN`].
    runs: Vec<Vec<u32>>,
}

impl RunSplit {
    /// The split for `c`, if `model`'s merges allow it (see the type).
    pub fn certify(model: &Bpe, c: char) -> Option<RunSplit> {
        if model.byte_level || model.ignore_merges {
            return None;
        }
        let mut utf8 = [0u8; 4];
        let unit = c.encode_utf8(&mut utf8).as_bytes();
        let lone = *model.key_to_id.get(unit)?;
        let keys = keys_by_id(model);
        let text_of = |id: u32| {
            keys.get(id as usize)
                .copied()
                .flatten()
                .and_then(|k| std::str::from_utf8(k).ok())
        };
        let pure = |s: &str| !s.is_empty() && s.chars().all(|x| x == c);
        let (mut first_run, mut last_other) = (u32::MAX, None::<u32>);
        for (&(l, r), &(rank, _)) in &model.merges {
            let (left, right) = (text_of(l)?, text_of(r)?);
            if pure(left) && pure(right) {
                first_run = first_run.min(rank);
                continue;
            }
            // Other merges: no `c` on the right, and on the left at most one, in front.
            if right.contains(c) || left.strip_prefix(c).unwrap_or(left).contains(c) {
                return None;
            }
            last_other = last_other.max(Some(rank));
        }
        if last_other.is_some_and(|rank| rank >= first_run) {
            return None;
        }
        let runs = (0..=MAX_RUN)
            .map(|j| {
                let mut ids = Vec::new();
                if j > 0 {
                    model.merge_units(c.to_string().repeat(j).as_bytes(), &mut ids);
                }
                ids
            })
            .collect();
        Some(RunSplit { lone, runs })
    }

    /// The id of `c` alone.
    pub fn lone(&self) -> u32 {
        self.lone
    }

    /// The ids of `c^j` (`j` at most [`MAX_RUN`]).
    pub fn run(&self, j: usize) -> &[u32] {
        &self.runs[j]
    }
}

/// `keys[id]`: the unit-space key of each vocabulary id.
fn keys_by_id(model: &Bpe) -> Vec<Option<&[u8]>> {
    let size = model
        .key_to_id
        .values()
        .map(|&id| id as usize + 1)
        .max()
        .unwrap_or(0);
    let mut keys = vec![None; size];
    for (key, &id) in &model.key_to_id {
        keys[id as usize] = Some(&**key);
    }
    keys
}

/// The last char of every merge's left part and the first char of its right part.
fn merge_joints(model: &Bpe, keys: &[Option<&[u8]>]) -> Vec<(char, char)> {
    let text_of = |id: u32| {
        keys.get(id as usize)
            .copied()
            .flatten()
            .and_then(|k| std::str::from_utf8(k).ok())
    };
    let mut joints: Vec<(char, char)> = model
        .merges
        .keys()
        .map(|&(l, r)| {
            // A part that is no UTF-8 key (never in files this loader accepts) joins anything.
            let last = text_of(l).and_then(|s| s.chars().next_back());
            let first = text_of(r).and_then(|s| s.chars().next());
            (last.unwrap_or(char::MAX), first.unwrap_or(char::MAX))
        })
        .collect();
    joints.sort_unstable();
    joints.dedup();
    joints
}

/// Whether no merge's unit sequence can hold a unit without a key of its own.
fn has_unknown_parts(joints: &[(char, char)]) -> bool {
    joints
        .iter()
        .any(|&(l, r)| l == char::MAX || r == char::MAX)
}

fn is_unit(model: &Bpe, c: char) -> bool {
    model
        .key_to_id
        .contains_key(c.encode_utf8(&mut [0; 4]).as_bytes())
}

/// The certificate of "cut before `c` where it follows a char other than `c`" (module docs).
fn before_char_is_safe(
    model: &Bpe,
    keys: &[Option<&[u8]>],
    joints: &[(char, char)],
    c: char,
) -> bool {
    let nothing_vanishes = model.unk.id.is_some()
        || model
            .byte_fallback
            .as_ref()
            .is_some_and(|table| table.iter().all(Option::is_some));
    let ends_with_c = |id: u32| {
        keys.get(id as usize)
            .copied()
            .flatten()
            .and_then(|k| std::str::from_utf8(k).ok())
            .is_none_or(|s| s.ends_with(c))
    };
    let stand_ins_end_elsewhere = model.unk.id.is_none_or(|id| !ends_with_c(id))
        && model
            .byte_fallback
            .iter()
            .flatten()
            .flatten()
            .all(|&id| !ends_with_c(id));
    is_unit(model, c)
        && nothing_vanishes
        && stand_ins_end_elsewhere
        && !has_unknown_parts(joints)
        && joints.iter().all(|&(l, r)| r != c || l == c)
}

/// The certificate of the ASCII cuts: `None` when no pair of ASCII units is left unjoined.
fn ascii_table(model: &Bpe, joints: &[(char, char)]) -> Option<Box<[u128; 128]>> {
    if has_unknown_parts(joints) {
        return None;
    }
    // Bit `b` set for every ASCII unit `b`; each unit's row starts as all of them.
    let units = (0..128u8)
        .filter(|&b| is_unit(model, char::from(b)))
        .fold(0u128, |set, b| set | 1 << b);
    let mut table = Box::new([0u128; 128]);
    for (x, row) in table.iter_mut().enumerate() {
        if units >> x & 1 == 1 {
            *row = units;
        }
    }
    for &(l, r) in joints {
        if l.is_ascii() && r.is_ascii() {
            table[l as usize] &= !(1u128 << (r as u32));
        }
    }
    table.iter().any(|&row| row != 0).then_some(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tokenizer;
    use serde_json::json;

    /// A `SentencePiece`-style file: chars `▁abc.` and byte fallback for the rest, the given
    /// merges (in rank order, as pairs of strings).
    fn sp_tokenizer(merges: &[(&str, &str)], fuse_unk: bool) -> Tokenizer {
        let mut vocab = serde_json::Map::new();
        vocab.insert("<unk>".into(), json!(0));
        for b in 0..=255u8 {
            vocab.insert(format!("<0x{b:02X}>"), json!(vocab.len()));
        }
        for c in ["▁", "a", "b", "c", "."] {
            vocab.insert(c.into(), json!(vocab.len()));
        }
        for (l, r) in merges {
            let joined = format!("{l}{r}");
            if !vocab.contains_key(&joined) {
                vocab.insert(joined, json!(vocab.len()));
            }
        }
        let doc = json!({
            "pre_tokenizer": {"type": "Metaspace", "replacement": "▁",
                              "prepend_scheme": "first", "split": false},
            "model": {"type": "BPE", "vocab": vocab, "merges": merges,
                      "unk_token": "<unk>", "fuse_unk": fuse_unk, "byte_fallback": true},
        });
        Tokenizer::from_json_str(&doc.to_string()).expect("test file loads")
    }

    fn parts(cuts: &Cuts, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        cuts.for_each_part(text.as_bytes(), |p| {
            out.push(String::from_utf8(p.to_vec()).expect("cuts at char boundaries"));
        });
        out
    }

    #[test]
    fn space_cut_is_certified_only_without_a_merge_into_the_space() {
        let good = sp_tokenizer(&[("▁", "a"), ("▁", "▁"), ("a", "b"), ("▁a", "b")], true);
        let cuts = Cuts::certify(good.bpe(), Some('▁'));
        assert!(cuts.before.is_some());
        // `a` then `▁` is joined by no merge: cut; `▁▁` is (and starts no cut anyway).
        let bad = sp_tokenizer(&[("▁", "a"), ("a", "▁")], true);
        assert!(Cuts::certify(bad.bpe(), Some('▁')).before.is_none());
        // A merge of a longer left part ending in a non-space into a part starting with one.
        let bad = sp_tokenizer(&[("a", "b"), ("▁", "c"), ("ab", "▁c")], true);
        assert!(Cuts::certify(bad.bpe(), Some('▁')).before.is_none());
        // No space char, no cut before it.
        assert!(Cuts::certify(good.bpe(), None).before.is_none());
    }

    #[test]
    fn ascii_cuts_leave_joined_pairs_whole() {
        let tok = sp_tokenizer(&[("a", "b"), ("▁", "a"), ("b", "."), ("▁", "▁")], true);
        let cuts = Cuts::certify(tok.bpe(), Some('▁'));
        assert_eq!(
            parts(&cuts, "▁ab.c▁▁a▁éa"),
            ["▁ab.", "c", "▁▁a", "▁éa"],
            "cuts before `▁` after a non-space, between unjoined ASCII units"
        );
        // `é` is not a unit: no ASCII cut beside it, and `▁▁` is never cut.
        assert_eq!(parts(&cuts, "é▁▁é"), ["é", "▁▁é"]);
        // Only ASCII cuts (a merge into `▁`): never inside a char, whatever its bytes.
        let tok = sp_tokenizer(&[("a", "▁")], true);
        let cuts = Cuts::certify(tok.bpe(), Some('▁'));
        assert!(cuts.before.is_none() && cuts.ascii.is_some());
        assert_eq!(parts(&cuts, "a😀—▁.a"), ["a😀—▁.", "a"]);
    }

    /// The model's ids for `text` (spaces already `▁`) merged whole by the reference loop.
    fn whole(tok: &Tokenizer, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        tok.bpe().encode_piece_reference(text.as_bytes(), &mut out);
        out
    }

    /// The same, merged part by part.
    fn by_parts(tok: &Tokenizer, cuts: &Cuts, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        cuts.for_each_part(text.as_bytes(), |p| {
            tok.bpe().encode_piece_reference(p, &mut out)
        });
        out
    }

    #[test]
    fn cutting_where_a_merge_joins_would_change_the_ids() {
        // `a▁` is a token: the certificate refuses the cut before `▁`, and rightly so.
        let tok = sp_tokenizer(&[("a", "▁")], true);
        assert!(Cuts::certify(tok.bpe(), Some('▁')).before.is_none());
        let forced = Cuts {
            before: Some(([0xE2, 0x96, 0x81, 0], 3)),
            ascii: None,
        };
        assert_ne!(by_parts(&tok, &forced, "▁a▁b"), whole(&tok, "▁a▁b"));
        assert_eq!(tok.encode(" a b").ok(), tok.encode_reference(" a b").ok());
    }

    /// A random `SentencePiece`-style file over `▁ a b .` (the unit-less `c`, `é`, `中`, `—`
    /// and `😀` take byte fallback, the unknown token or vanish, as the flags say; `—` shares its
    /// first byte with `▁`, and it and `😀` have a byte 0x80).
    #[allow(clippy::fn_params_excessive_bools)]
    fn random_sp_file(
        picks: &[(usize, usize)],
        byte_fallback: bool,
        unk: bool,
        fuse_unk: bool,
        legacy: bool,
        runs_last: bool,
        scheme: &str,
    ) -> Tokenizer {
        let mut vocab = serde_json::Map::new();
        if unk {
            vocab.insert("<unk>".into(), json!(vocab.len()));
        }
        if byte_fallback {
            for b in 0..=255u8 {
                vocab.insert(format!("<0x{b:02X}>"), json!(vocab.len()));
            }
        }
        let mut pieces: Vec<String> = ["▁", "a", "b", "."].map(String::from).to_vec();
        for p in &pieces {
            vocab.insert(p.clone(), json!(vocab.len()));
        }
        let mut merges = Vec::new();
        for &(l, r) in picks {
            let (left, right) = (&pieces[l % pieces.len()], &pieces[r % pieces.len()]);
            let joined = format!("{left}{right}");
            if joined.chars().count() > 6 || vocab.contains_key(&joined) {
                continue;
            }
            vocab.insert(joined.clone(), json!(vocab.len()));
            merges.push(json!([left, right]));
            pieces.push(joined);
        }
        if runs_last {
            // Merges of runs of `▁` after all others, as in Mistral's file (`RunSplit`).
            for (left, right) in [(1, 1), (2, 1), (1, 2), (2, 2), (3, 1), (4, 4), (3, 2)] {
                let joined = "▁".repeat(left + right);
                if !vocab.contains_key(&joined) {
                    vocab.insert(joined, json!(vocab.len()));
                }
                merges.push(json!(["▁".repeat(left), "▁".repeat(right)]));
            }
        }
        let mut model = json!({"type": "BPE", "vocab": vocab, "merges": merges,
                               "fuse_unk": fuse_unk, "byte_fallback": byte_fallback});
        if unk {
            model["unk_token"] = json!("<unk>");
        }
        let doc = if legacy {
            json!({"normalizer": {"type": "Sequence", "normalizers": [
                       {"type": "Prepend", "prepend": "▁"},
                       {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
                   "model": model})
        } else {
            json!({"pre_tokenizer": {"type": "Metaspace", "replacement": "▁",
                                     "prepend_scheme": scheme, "split": false},
                   "model": model})
        };
        Tokenizer::from_json_str(&doc.to_string()).expect("random file loads")
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(512)))]

        /// Whatever a random file's certificates allow, the ids equal the reference (whole
        /// pre-tokens through the readable merge loop), and merging the parts equals merging
        /// the whole. Merges into `▁` (which fail the certificate) are drawn often.
        #[test]
        fn parts_merge_like_the_whole(
            picks in proptest::collection::vec((0usize..12, 0usize..12), 0..24),
            flags in proptest::array::uniform5(proptest::bool::ANY),
            text in proptest::collection::vec(
                proptest::sample::select(
                    vec![" ", "  ", "    ", "▁", "a", "b", ".", "c", "é", "中", "—", "😀"]), 0..40),
            scheme in proptest::sample::select(vec!["first", "always", "never"]),
        ) {
            let [byte_fallback, unk, fuse_unk, legacy, runs_last] = flags;
            let tok = random_sp_file(
                &picks, byte_fallback, unk, fuse_unk, legacy, runs_last, scheme);
            let text = text.concat();
            let expected = tok.encode_reference(&text)?;
            proptest::prop_assert_eq!(&tok.encode(&text)?, &expected);
            // Again, from the pre-token cache (raw-text keys where the space cut holds).
            proptest::prop_assert_eq!(&tok.encode(&text)?, &expected);
            let cuts = Cuts::certify(tok.bpe(), Some('▁'));
            let plain = !text.is_empty() && !text.contains('▁');
            if let Some(space_cuts) = cuts.on_raw_spaces('▁').filter(|_| plain) {
                // The raw cuts, with spaces then rewritten, are the cuts of the rewritten text.
                let mut raw_parts = Vec::new();
                space_cuts.for_each_part(text.as_bytes(), |part, _| {
                    raw_parts.push(String::from_utf8_lossy(part).replace(' ', "▁"));
                });
                let mut parts = Vec::new();
                cuts.for_each_part(text.replace(' ', "▁").as_bytes(), |part| {
                    parts.push(String::from_utf8_lossy(part).into_owned());
                });
                proptest::prop_assert_eq!(raw_parts, parts);
            }
            let spaced = format!("▁{}", text.replace(' ', "▁"));
            proptest::prop_assert_eq!(by_parts(&tok, &cuts, &spaced), whole(&tok, &spaced));
        }
    }

    /// A file with merges of `▁` runs after all others, and the merges given (before those).
    fn runs_last_file(merges: &[(&str, &str)]) -> Tokenizer {
        let mut all: Vec<(&str, &str)> = merges.to_vec();
        all.extend([("▁", "▁"), ("▁▁", "▁▁"), ("▁▁", "▁"), ("▁▁▁▁", "▁▁▁▁")]);
        sp_tokenizer(&all, true)
    }

    #[test]
    fn run_split_is_certified_only_where_runs_merge_last_and_alone() {
        let words = [("▁", "a"), ("a", "b"), ("▁a", "b"), ("b", "."), ("▁", ".")];
        let good = runs_last_file(&words);
        let split = RunSplit::certify(good.bpe(), '▁').expect("certified");
        let ids = |text: &str| {
            let mut out = Vec::new();
            good.bpe().encode_piece_reference(text.as_bytes(), &mut out);
            out
        };
        assert_eq!(split.run(7), ids(&"▁".repeat(7)));
        assert_eq!(split.run(1), [split.lone()]);
        assert!(split.run(0).is_empty());
        // No `▁` runs merged at all: certified too, every run is its units.
        assert!(RunSplit::certify(sp_tokenizer(&words, true).bpe(), '▁').is_some());
        // A run merge before another merge.
        let early = sp_tokenizer(&[("▁", "▁"), ("▁", "a")], true);
        assert!(RunSplit::certify(early.bpe(), '▁').is_none());
        // A run joined to a word, a `▁` inside a left part, a `▁` on the right.
        for bad in [
            [("▁", "▁"), ("▁▁", "a")],
            [("a", "▁"), ("a▁", "b")],
            [("▁", "a"), ("b", "▁a")],
        ] {
            let tok = runs_last_file(&bad);
            assert!(RunSplit::certify(tok.bpe(), '▁').is_none(), "{bad:?}");
        }
    }

    #[test]
    fn indented_words_encode_like_the_whole_part() {
        let words = [
            ("▁", "a"),
            ("a", "b"),
            ("▁a", "b"),
            ("b", "."),
            ("▁", "."),
            ("a", "a"),
        ];
        // Also files the certificate refuses: a run merge first, a run joined to a word.
        let early = sp_tokenizer(&[("▁", "▁"), ("▁", "a"), ("a", "b"), ("▁a", "b")], true);
        let joined = runs_last_file(&[("▁▁", "a"), ("a", "b")]);
        for tok in [
            runs_last_file(&words),
            sp_tokenizer(&words, true),
            early,
            joined,
        ] {
            for k in (0..20).chain([62, 63, 64, 65, 66, 100]) {
                for word in ["ab", "b", ".", "é", "c", "aab.", "▁a"] {
                    let text = format!("x{}{word}", " ".repeat(k));
                    assert_eq!(
                        tok.encode(&text).ok(),
                        tok.encode_reference(&text).ok(),
                        "{text:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn ignore_merges_and_byte_level_files_get_no_cuts() {
        let tok = sp_tokenizer(&[("▁", "a")], false);
        let mut model_cuts = Cuts::certify(tok.bpe(), Some('▁'));
        assert!(model_cuts.any());
        let doc = json!({
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false},
            "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]},
        });
        let byte_level = Tokenizer::from_json_str(&doc.to_string()).expect("loads");
        model_cuts = Cuts::certify(byte_level.bpe(), Some('▁'));
        assert!(!model_cuts.any());
        let doc = json!({
            "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"],
                      "ignore_merges": true},
        });
        let ignoring = Tokenizer::from_json_str(&doc.to_string()).expect("loads");
        assert!(!Cuts::certify(ignoring.bpe(), Some('▁')).any());
    }
}
