//! The probes: a fixed set of continuations that stand for "any text after this" when the cover
//! search decides whether a token sequence starts some canonical encoding (see [`super`]), and
//! the UTF-8 completions of byte strings that end inside a character.

use std::sync::OnceLock;

use crate::scanner::CONTRACTIONS;

/// Continuations that stand for "any text after this": the end of text and one representative
/// of every character class that the supported pre-tokenizer patterns tell apart, plus a
/// contraction (`'s`: o200k's pattern attaches it to the word before). [`probes_after`] adds
/// the letters that complete a contraction after an apostrophe.
const BASE_PROBES: &[&str] = &[
    "", " ", "a", "A", "0", ".", "\n", "'", "\t", "-", " a", "  ", "a ", "00", "é", "中", "\u{a0}",
    "\r\n", "_", "/", "'s",
];

/// The probe lists: the base probes, and for each proper prefix of a contraction (lowercase;
/// the empty one right after the apostrophe) the base probes followed by the letters that
/// complete it, in lowercase then in uppercase.
pub(super) struct Probes {
    base: Vec<Box<str>>,
    after_partial: Vec<(Box<str>, Vec<Box<str>>)>,
    /// `may_end_partial[b]`: text ending with byte `b` may end with an apostrophe and a partial
    /// (`'` itself, and the last letter of each non-empty partial in either case), so that
    /// [`probes_after`] only looks at the partials for those.
    may_end_partial: [bool; 256],
}

impl Probes {
    fn build() -> Probes {
        let base: Vec<Box<str>> = BASE_PROBES.iter().map(|&p| p.into()).collect();
        let mut completions: Vec<(&str, Vec<&str>)> = Vec::new();
        for &contraction in CONTRACTIONS {
            for cut in 0..contraction.len() {
                let (partial, rest) = contraction.split_at(cut);
                match completions.iter_mut().find(|(p, _)| *p == partial) {
                    Some((_, rests)) => rests.push(rest),
                    None => completions.push((partial, vec![rest])),
                }
            }
        }
        let after_partial = completions
            .into_iter()
            .map(|(partial, rests)| {
                let mut list = base.clone();
                for rest in &rests {
                    if !list.iter().any(|p| **p == **rest) {
                        list.push((*rest).into());
                    }
                }
                for rest in &rests {
                    let upper: Box<str> = rest.to_ascii_uppercase().into();
                    if !list.contains(&upper) {
                        list.push(upper);
                    }
                }
                (partial.into(), list)
            })
            .collect::<Vec<(Box<str>, Vec<Box<str>>)>>();
        let mut may_end_partial = [false; 256];
        may_end_partial[usize::from(b'\'')] = true;
        for (partial, _) in &after_partial {
            if let Some(&last) = partial.as_bytes().last() {
                may_end_partial[usize::from(last.to_ascii_lowercase())] = true;
                may_end_partial[usize::from(last.to_ascii_uppercase())] = true;
            }
        }
        Probes {
            base,
            after_partial,
            may_end_partial,
        }
    }

    fn get() -> &'static Probes {
        static PROBES: OnceLock<Probes> = OnceLock::new();
        PROBES.get_or_init(Probes::build)
    }

    /// Every probe list.
    pub(super) fn all() -> impl Iterator<Item = &'static [Box<str>]> {
        let probes = Probes::get();
        std::iter::once(probes.base.as_slice())
            .chain(probes.after_partial.iter().map(|(_, list)| list.as_slice()))
    }
}

/// The probes for text that ends with `before`: the contractions of the supported patterns
/// ([`CONTRACTIONS`], any case) depend on the letters after the apostrophe, so text ending
/// inside one gets the letters that would complete it.
pub(super) fn probes_after(before: &[u8]) -> &'static [Box<str>] {
    let probes = Probes::get();
    if !before
        .last()
        .is_some_and(|&b| probes.may_end_partial[usize::from(b)])
    {
        return &probes.base;
    }
    for (partial, list) in &probes.after_partial {
        let n = partial.len();
        if before.len() > n
            && before[before.len() - n - 1] == b'\''
            && before[before.len() - n..].eq_ignore_ascii_case(partial.as_bytes())
        {
            return list;
        }
    }
    &probes.base
}

/// `y` itself if it is valid UTF-8; otherwise `y` completed to valid UTF-8 with a few different
/// continuation bytes (empty if `y` has an invalid sequence that no continuation can fix).
pub(super) fn completions(y: &[u8]) -> Vec<Vec<u8>> {
    match std::str::from_utf8(y) {
        Ok(_) => vec![y.to_vec()],
        Err(e) if e.error_len().is_none() => {
            let partial = &y[e.valid_up_to()..];
            let need = match partial[0] {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                _ => 4,
            } - partial.len();
            let mut out = Vec::new();
            for fill in [0x80u8, 0x81, 0xA9, 0xBF] {
                let mut c = y.to_vec();
                c.extend(std::iter::repeat_n(fill, need));
                if std::str::from_utf8(&c).is_ok() && !out.contains(&c) {
                    out.push(c);
                }
            }
            // Lead bytes that constrain the second byte (E0, ED, F0, F4): try the whole range.
            if out.is_empty() {
                for second in 0x80u8..=0xBF {
                    let mut c = y.to_vec();
                    if partial.len() == 1 {
                        c.push(second);
                        c.extend(std::iter::repeat_n(0x80, need - 1));
                    } else {
                        c.extend(std::iter::repeat_n(second, need));
                    }
                    if std::str::from_utf8(&c).is_ok() {
                        out.push(c);
                        break;
                    }
                }
            }
            out
        }
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::probes_after;

    fn strs(list: &[Box<str>]) -> Vec<&str> {
        list.iter().map(|p| &**p).collect()
    }

    #[test]
    fn probes_complete_contractions() {
        let base = strs(probes_after(b"x"));
        assert_eq!(base.len(), 21);
        let with = |extra: &[&'static str]| [base.clone(), extra.to_vec()].concat();
        assert_eq!(
            strs(probes_after(b"it'")),
            with(&["s", "t", "re", "ve", "m", "ll", "d", "S", "T", "RE", "VE", "M", "LL", "D"])
        );
        for before in [&b"we'r"[..], b"WE'R", b"'v", b"I'V"] {
            assert_eq!(strs(probes_after(before)), with(&["e", "E"]));
        }
        for before in [&b"we'l"[..], b"'L"] {
            assert_eq!(strs(probes_after(before)), with(&["l", "L"]));
        }
        for before in [&b""[..], b"r", b"'s", b"'re", b"'x", b"'R."] {
            assert_eq!(strs(probes_after(before)), base);
        }
    }
}
