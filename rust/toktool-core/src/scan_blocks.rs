//! The pre-tokenizers of GPT-2, the cl100k family and the o200k family on 64 bytes at a time:
//! every piece start of a window found by bit arithmetic on class masks, so that the pieces of
//! ASCII text (and Latin letters) come out without a branch per piece kind (the scalar scanner's
//! cost was its mispredicted branches, ~30 cycles a piece). `crate::scanner` drives the windows
//! and runs its scalar scanner where a window is unsure.
//!
//! The rules below are the cl100k family's; [`gpt2_starts`] and [`o200k_starts`] say how theirs
//! differ. The pattern (`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//! ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`, and the variants with single digits or
//! whole digit runs) tiles its input, and on ASCII whether a piece starts at a byte depends on
//! a few neighbours only. With `L` letters, `N` digits, `SP` the space, `S` the space-like
//! chars (space, tab, vertical tab, form feed), `R` the newlines (`\r`, `\n`), `W = S | R` and
//! `P` every other ASCII char (punctuation, controls, the apostrophe), a piece starts at a byte
//! `c` with previous byte `x` when:
//!
//! - `c` in `P`: `x` is not in `P` and is not a space (` ?[^\s\p{L}\p{N}]+` takes a punctuation
//!   run whole, with at most one space before it; a tab before it is a piece of its own);
//! - `c` in `L`: `x` in `N` or `R`, or `x` in `P` without a piece starting at `x` (a punctuation
//!   char or space-like char that starts a piece takes the letter run after it; a space-like char
//!   right before a letter always starts one), or `c` follows a contraction (`'s`, `'ll`, ...)
//!   whose apostrophe starts a piece;
//! - `c` in `N`: `x` not in `N`, or `c` begins a new group of the run (single digits: always);
//! - `c` in `R`: `x` in `L` or `N` (after punctuation the newlines end the punctuation piece;
//!   after whitespace `\s*[\r\n]+` takes them);
//! - `c` in `S`: `x` in `L`, `N` or `P`; or `x` in `R` and either those newlines ended a
//!   punctuation piece or no newline follows in this whitespace run (`\s*[\r\n]+` ends at the
//!   run's last newline); or `x` in `S` and `c` ends the run (`\s+(?!\S)` leaves the last one).
//!
//! Only the window's first byte must be known to start a piece (the caller's position). Where
//! the rules would need more than the window shows (a non-ASCII byte, a whitespace run reaching
//! the window's end, a digit run long enough to be cut in groups) the window is trusted only up
//! to there; the scalar scanner takes over where a window makes no progress.

/// Class masks of a 64-byte window: bit `i` stands for byte `i`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Masks {
    /// ASCII letters, and the bytes of the Latin letters of [`with_latin_letters`].
    pub(crate) letter: u64,
    /// ASCII digits.
    pub(crate) digit: u64,
    /// The space (0x20).
    pub(crate) space: u64,
    /// Tab, vertical tab, form feed.
    pub(crate) space_like: u64,
    /// `\r` and `\n`.
    pub(crate) newline: u64,
    /// The apostrophe.
    pub(crate) apostrophe: u64,
    /// Bytes of non-ASCII chars, except those of the Latin letters of [`with_latin_letters`].
    pub(crate) wide: u64,
    /// ASCII uppercase letters.
    pub(crate) upper: u64,
    /// The slash.
    pub(crate) slash: u64,
    /// The bytes of the Latin letters of [`with_latin_letters`] (in `letter`, not in `wide`).
    pub(crate) latin: u64,
    /// The first bytes of those letters.
    pub(crate) latin_lead: u64,
}

/// The masks of `window`, by the definition (the reference of [`classify`]).
#[cfg(any(test, not(target_arch = "x86_64")))]
pub(crate) fn classify_slow(window: &[u8; 64]) -> Masks {
    let mut m = Masks::default();
    for (i, &b) in window.iter().enumerate() {
        let bit = 1u64 << i;
        match b {
            b'a'..=b'z' => m.letter |= bit,
            b'A'..=b'Z' => {
                m.letter |= bit;
                m.upper |= bit;
            }
            b'/' => m.slash |= bit,
            b'0'..=b'9' => m.digit |= bit,
            b' ' => m.space |= bit,
            b'\t' | 0x0b | 0x0c => m.space_like |= bit,
            b'\r' | b'\n' => m.newline |= bit,
            b'\'' => m.apostrophe |= bit,
            0x80..=0xff => m.wide |= bit,
            _ => {}
        }
    }
    let mask_of = |f: &dyn Fn(u8) -> bool| {
        window
            .iter()
            .enumerate()
            .fold(0u64, |acc, (i, &b)| acc | (u64::from(f(b)) << i))
    };
    with_latin_letters(
        m,
        mask_of(&|b| (0xc3..=0xc5).contains(&b)),
        mask_of(&|b| b == 0xc3),
        mask_of(&|b| b == 0xc5),
        mask_of(&|b| b == 0x97 || b == 0xb7),
        mask_of(&|b| b == 0xbf),
    )
}

/// The masks of `window`: by [`classify_avx512`] where the CPU has AVX-512BW, else by
/// [`classify_sse2`] (the feature test is a load of a cached flag; 1.01-1.04x on unseen code in
/// 4 KB calls, in-process A/B on an AMD EPYC with AVX-512).
#[cfg(target_arch = "x86_64")]
#[allow(clippy::inline_always)]
#[inline(always)]
pub(crate) fn classify(window: &[u8; 64]) -> Masks {
    if std::arch::is_x86_feature_detected!("avx512bw") {
        // SAFETY: the CPU has AVX-512BW (checked just above).
        unsafe { classify_avx512(window) }
    } else {
        classify_sse2(window)
    }
}

/// The masks of `window` from one 64-byte register: each class is one compare straight into a
/// 64-bit mask (no `movemask`, shift and `or` per 16 bytes, as [`classify_sse2`] needs).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512bw")]
fn classify_avx512(window: &[u8; 64]) -> Masks {
    use std::arch::x86_64::{
        __m512i, _mm512_cmpeq_epi8_mask, _mm512_cmple_epu8_mask, _mm512_loadu_si512,
        _mm512_movepi8_mask, _mm512_or_si512, _mm512_set1_epi8, _mm512_sub_epi8,
    };
    // SAFETY: the load reads the 64 bytes of `window` (an unaligned load, as
    // `_mm512_loadu_si512` allows).
    #[allow(clippy::cast_ptr_alignment)]
    let v = unsafe { _mm512_loadu_si512(window.as_ptr().cast::<__m512i>()) };
    let set = |b: u8| _mm512_set1_epi8(b.cast_signed());
    let eq = |b: u8| _mm512_cmpeq_epi8_mask(v, set(b));
    // `x - lo <= span` as unsigned bytes.
    let within = |x: __m512i, lo: u8, span: u8| {
        _mm512_cmple_epu8_mask(_mm512_sub_epi8(x, set(lo)), set(span))
    };
    let folded = _mm512_or_si512(v, set(0x20));
    let m = Masks {
        letter: within(folded, b'a', 25),
        digit: within(v, b'0', 9),
        space: eq(b' '),
        space_like: within(v, b'\t', 3) & !eq(b'\n'),
        newline: eq(b'\n') | eq(b'\r'),
        apostrophe: eq(b'\''),
        wide: _mm512_movepi8_mask(v),
        upper: within(v, b'A', 25),
        slash: eq(b'/'),
        latin: 0,
        latin_lead: 0,
    };
    with_latin_letters(
        m,
        within(v, 0xc3, 2),
        eq(0xc3),
        eq(0xc5),
        eq(0x97) | eq(0xb7),
        eq(0xbf),
    )
}

/// The masks of `window`, 16 bytes per SSE2 compare (SSE2 is part of every `x86_64` CPU).
#[cfg(target_arch = "x86_64")]
#[allow(clippy::inline_always)]
#[inline(always)]
pub(crate) fn classify_sse2(window: &[u8; 64]) -> Masks {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8, _mm_sub_epi8,
    };
    let mut m = Masks::default();
    let (mut latin_lead, mut c3, mut c5, mut times_divide, mut long_s) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    for k in 0..4 {
        // SAFETY: SSE2 is always available on x86_64, and the load reads bytes 16k..16k+16 of
        // a 64-byte array (an unaligned load, as `_mm_loadu_si128` allows).
        let lanes = unsafe {
            #[allow(clippy::cast_ptr_alignment)] // an unaligned load
            let v = _mm_loadu_si128(window.as_ptr().add(16 * k).cast::<__m128i>());
            let set = |b: u8| _mm_set1_epi8(b.cast_signed());
            // `x - lo <= span` as unsigned bytes: `min(d, span) == d`.
            let within = |x: __m128i, lo: u8, span: u8| {
                let d = _mm_sub_epi8(x, set(lo));
                _mm_cmpeq_epi8(_mm_min_epu8(d, set(span)), d)
            };
            // `movemask` sets the low 16 bits only.
            let mask = |x: __m128i| u64::from(_mm_movemask_epi8(x).cast_unsigned() as u16);
            let folded = _mm_or_si128(v, set(0x20));
            let eq = |b: u8| _mm_cmpeq_epi8(v, set(b));
            let tab_to_ff = within(v, b'\t', 3);
            let newline =
                _mm_or_si128(_mm_cmpeq_epi8(v, set(b'\n')), _mm_cmpeq_epi8(v, set(b'\r')));
            [
                mask(within(folded, b'a', 25)),
                mask(within(v, b'0', 9)),
                mask(_mm_cmpeq_epi8(v, set(b' '))),
                mask(tab_to_ff) & !mask(_mm_cmpeq_epi8(v, set(b'\n'))),
                mask(newline),
                mask(_mm_cmpeq_epi8(v, set(b'\''))),
                mask(v),
                mask(within(v, 0xc3, 2)),
                mask(eq(0xc3)),
                mask(eq(0xc5)),
                mask(_mm_or_si128(eq(0x97), eq(0xb7))),
                mask(eq(0xbf)),
                mask(within(v, b'A', 25)),
                mask(eq(b'/')),
            ]
        };
        let shift = 16 * k;
        m.letter |= lanes[0] << shift;
        m.digit |= lanes[1] << shift;
        m.space |= lanes[2] << shift;
        m.space_like |= lanes[3] << shift;
        m.newline |= lanes[4] << shift;
        m.apostrophe |= lanes[5] << shift;
        m.wide |= lanes[6] << shift;
        latin_lead |= lanes[7] << shift;
        c3 |= lanes[8] << shift;
        c5 |= lanes[9] << shift;
        times_divide |= lanes[10] << shift;
        long_s |= lanes[11] << shift;
        m.upper |= lanes[12] << shift;
        m.slash |= lanes[13] << shift;
    }
    with_latin_letters(m, latin_lead, c3, c5, times_divide, long_s)
}

/// `m` with the two-byte letters of Latin-1 and Latin Extended-A (U+00C0..U+017F: lead byte
/// 0xC3, 0xC4 or 0xC5) counted as letters, not as non-ASCII: all of them are `\p{L}`, except
/// `×` (C3 97) and `÷` (C3 B7), and `ſ` (C5 BF), which matches `s` in a case-insensitive
/// contraction, so they stay non-ASCII. A lead byte at bit 63 (its second byte is in the next
/// window) stays non-ASCII too. The masks: lead bytes 0xC3..=0xC5, 0xC3, 0xC5, the bytes 0x97
/// and 0xB7, the byte 0xBF.
#[allow(clippy::inline_always)]
#[inline(always)]
fn with_latin_letters(
    mut m: Masks,
    leads: u64,
    c3: u64,
    c5: u64,
    times_divide: u64,
    long_s: u64,
) -> Masks {
    let lead = leads & !(c3 & (times_divide >> 1)) & !(c5 & (long_s >> 1)) & !(1u64 << 63);
    let latin = lead | (lead << 1);
    m.letter |= latin;
    m.wide &= !latin;
    m.latin = latin;
    m.latin_lead = lead;
    m
}

/// The masks of `window` (no SIMD on this architecture).
#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub(crate) fn classify(window: &[u8; 64]) -> Masks {
    classify_slow(window)
}

/// Every bit of `m` from each bit of `seeds` (a subset of `m`) up to the end of its run of ones
/// in `m`: adding a seed clears its run from there on, so the cleared bits are the filled ones
/// (further seeds of the same run land on cleared bits and are added back).
#[allow(clippy::inline_always)]
#[inline(always)]
fn fill_up(m: u64, seeds: u64) -> u64 {
    (m & !m.wrapping_add(seeds)) | seeds
}

/// The first bit of the run of ones of `m` that holds bit `i` (which is set in `m`).
#[allow(clippy::inline_always)]
#[inline(always)]
fn run_start(m: u64, i: u32) -> u32 {
    let below = !m & ((1u64 << i) - 1);
    if below == 0 {
        0
    } else {
        64 - below.leading_zeros()
    }
}

/// The pieces of one window: `bits` has a bit at every piece start below `horizon`, bit 0
/// (the caller's position) included; starts at `horizon` and beyond are not known yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Starts {
    pub(crate) bits: u64,
    pub(crate) horizon: u32,
    /// Whether the window is text of another script (more than 16 non-ASCII bytes): when it
    /// found no piece, the next window is worth a try only well past it, not right after the
    /// horizon.
    pub(crate) other_script: bool,
}

/// The piece starts of the cl100k-family pattern in `window` (a piece starts at its byte 0),
/// with digit runs cut in groups of `max_digits` (1, 3, or `usize::MAX` for whole runs; other
/// values are not supported and give a horizon of 1).
#[inline]
pub(crate) fn cl100k_starts(window: &[u8; 64], max_digits: usize) -> Starts {
    let masks = classify(window);
    let (letter, digit, space, newline) = (masks.letter, masks.digit, masks.space, masks.newline);
    let blank = space | masks.space_like;
    let white = blank | newline;
    let punct = !(letter | digit | white | masks.wide);
    let first_punct = punct_starts(punct, space);
    // Contractions whose apostrophe starts a piece: the letter after them starts one.
    let mut forced = 0u64;
    let mut apostrophes = masks.apostrophe & first_punct & ((1u64 << 61) - 1);
    while apostrophes != 0 {
        let i = apostrophes.trailing_zeros() as usize;
        apostrophes &= apostrophes - 1;
        // `| 0x20` maps only the two cases of a letter to its lowercase (and no non-letter to
        // a letter `contraction_len` names).
        let len = contraction_len(window[i + 1] | 0x20, window[i + 2] | 0x20);
        if len > 0 {
            forced |= 1u64 << (i + 1 + len);
        }
    }
    let first_letter = letter & (((digit | newline) << 1) | ((punct & !first_punct) << 1) | forced);
    let first_digit = digit_starts(digit, max_digits);
    let first_newline = newline & ((letter | digit) << 1);
    // Newlines that end a punctuation piece: the run of them right after punctuation.
    let punct_newlines = fill_up(newline, newline & (punct << 1));
    let first_blank = blank_starts(blank, newline, punct_newlines, letter | digit | punct);
    let all = first_punct | first_letter | first_digit | first_newline | first_blank | 1;

    // Sure up to byte 62: a space-like char needs the next byte.
    let horizon = seen_horizon(63, white, masks.wide).min(digit_horizon(digit, max_digits));
    finish(all, horizon, masks.wide)
}

/// The piece starts of GPT-2's pattern (`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+|
/// ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`) in `window` (a piece starts at its byte 0). A run of
/// letters, digits or punctuation is one piece, with the space before it when a space comes
/// right before it (a space right before a non-space always starts a piece); whitespace ends
/// one char early where a non-space follows; a case-sensitive contraction whose apostrophe
/// starts a piece is a piece of its own.
#[inline]
pub(crate) fn gpt2_starts(window: &[u8; 64]) -> Starts {
    gpt2_starts_with(window, false)
}

/// [`gpt2_starts`] after a `Digits` pre-tokenizer with `individual_digits` (`SmolLM2`, `StarCoder`):
/// every digit is a piece of its own, and the text between two digits is split by GPT-2's
/// pattern as a text of its own, so whitespace right before a digit is one piece whole
/// (`\s+(?!\S)` at the end of a text) and a space does not join the digit.
#[inline]
pub(crate) fn gpt2_isolated_digits_starts(window: &[u8; 64]) -> Starts {
    gpt2_starts_with(window, true)
}

#[allow(clippy::inline_always)]
#[inline(always)]
fn gpt2_starts_with(window: &[u8; 64], isolated_digits: bool) -> Starts {
    let masks = classify(window);
    let (letter, digit, space) = (masks.letter, masks.digit, masks.space);
    let white = space | masks.space_like | masks.newline;
    let punct = !(letter | digit | white | masks.wide);
    // Whitespace that ends the piece before it (a space joins the run after it instead).
    let other_white = white & !space;
    let first_punct = punct_starts(punct, space);
    // The letters of a contraction (not starts), and the letter after one (a start). An
    // apostrophe at 62 or 63 has its letters at 63 and beyond, past every horizon.
    let mut inside = 0u64;
    let mut forced = 0u64;
    let mut apostrophes = masks.apostrophe & first_punct & ((1u64 << 62) - 1);
    while apostrophes != 0 {
        let i = apostrophes.trailing_zeros() as usize;
        apostrophes &= apostrophes - 1;
        let len = contraction_len(window[i + 1], window[i + 2]);
        if len > 0 {
            inside |= ((1u64 << len) - 1) << (i + 1);
            if i + 1 + len < 64 {
                forced |= 1u64 << (i + 1 + len);
            }
        }
    }
    let first_letter = letter & ((((digit | punct | other_white) << 1) & !inside) | forced);
    let (first_digit, first_white) = if isolated_digits {
        (
            digit,
            white & (!(white << 1) | (!(white >> 1) & !(digit >> 1))),
        )
    } else {
        (
            digit & ((letter | punct | other_white) << 1),
            white & (!(white << 1) | !(white >> 1)),
        )
    };
    let all = first_punct | first_letter | first_digit | first_white | 1;

    // As in `cl100k_starts`: whitespace needs the byte after it.
    finish(all, seen_horizon(63, white, masks.wide), masks.wide)
}

/// `LATIN_UPPER[k / 64] >> (k % 64) & 1`: whether U+00C0 + k is uppercase (`\p{Lu}`); the
/// others of U+00C0..U+017F are lowercase (`\p{Ll}`), or `×` and `÷`, which are not letters
/// (the test `latin_case_table_is_unicodes` checks every one).
const LATIN_UPPER: [u64; 3] = [0x7f7f_ffff, 0xaa55_5555_5555_5555, 0x2b55_5555_5555_54aa];

/// The piece starts of the o200k family (`o200k_base`, and Tekken: `contractions` false,
/// single digits) in `window` (a piece starts at its byte 0). As the cl100k family (see the module's
/// rules), except: a letter run is cut before an uppercase letter that follows a lowercase
/// one; a contraction (`'s`, `'LL`, ...) right after letters ends their piece, and the letter
/// after it starts one; the newlines after a punctuation run may be mixed with slashes
/// (`[\r\n/]*`).
#[inline]
pub(crate) fn o200k_starts(window: &[u8; 64], max_digits: usize, contractions: bool) -> Starts {
    let masks = classify(window);
    let wide = masks.wide;
    let letter = masks.letter;
    // Both bytes of an uppercase Latin letter count as uppercase (so the cut before it falls on
    // its first byte).
    let mut upper = masks.upper;
    let mut leads = masks.latin_lead;
    while leads != 0 {
        let i = leads.trailing_zeros() as usize;
        leads &= leads - 1;
        let k = ((u32::from(window[i] & 0x1f) << 6) | u32::from(window[i + 1] & 0x3f)) - 0xc0;
        if LATIN_UPPER[(k / 64) as usize] >> (k % 64) & 1 != 0 {
            upper |= 0b11 << i;
        }
    }
    let lower = letter & !upper;
    let (digit, space, newline) = (masks.digit, masks.space, masks.newline);
    let blank = space | masks.space_like;
    let white = blank | newline;
    let punct = !(letter | digit | white | wide);
    // The `[\r\n/]*` after a punctuation run (it starts with a newline: a slash right after the
    // run is part of the run).
    let suffix = fill_up(newline | masks.slash, newline & (punct << 1));
    // Contractions after letters: the apostrophe and letters are inside the letters' piece.
    let mut inside = 0u64;
    let mut forced = 0u64;
    if contractions {
        let mut apostrophes = masks.apostrophe & (letter << 1) & ((1u64 << 61) - 1);
        while apostrophes != 0 {
            let i = apostrophes.trailing_zeros() as usize;
            apostrophes &= apostrophes - 1;
            if inside >> (i - 1) & 1 != 0 {
                // right after another contraction: a piece has ended, this one is not a suffix
                continue;
            }
            let len = contraction_len(window[i + 1] | 0x20, window[i + 2] | 0x20);
            if len > 0 {
                inside |= ((2u64 << len) - 1) << i;
                forced |= 1u64 << (i + 1 + len);
            }
        }
    }
    let run_punct = punct & !suffix;
    let first_punct =
        ((run_punct & ((suffix << 1) | !((run_punct | space) << 1))) | (punct & 1)) & !inside;
    let first_letter = letter
        & (((digit | newline) << 1)
            | ((punct & !first_punct) << 1)
            | ((lower << 1) & upper)
            | forced)
        & !inside;
    let first_digit = digit_starts(digit, max_digits);
    let first_newline = newline & ((letter | digit) << 1) & !suffix;
    let first_blank = blank_starts(blank, newline, newline & suffix, letter | digit | punct);
    let all = first_punct | first_letter | first_digit | first_newline | first_blank | 1;

    // As in `cl100k_starts`, and up to byte 60: a contraction needs the two bytes after its
    // apostrophe; an apostrophe right before a non-ASCII byte may open one (`'ſ` is `'s` to a
    // case-insensitive match).
    let mut horizon = seen_horizon(61, white, wide).min(digit_horizon(digit, max_digits));
    let open = masks.apostrophe & ((wide >> 1) | (wide >> 2));
    if contractions && open != 0 {
        horizon = horizon.min(open.trailing_zeros());
    }
    finish(all, horizon, wide)
}

/// The letters of a contraction (`'s`, `'t`, `'m`, `'d`, `'re`, `'ve`, `'ll`) that open with
/// the bytes `a` and `b` after the apostrophe: 1, 2, or 0 for none.
#[inline]
fn contraction_len(a: u8, b: u8) -> usize {
    match (a, b) {
        (b's' | b't' | b'm' | b'd', _) => 1,
        (b'r' | b'v', b'e') | (b'l', b'l') => 2,
        _ => 0,
    }
}

/// The blanks (space-like chars) that start a piece in the cl100k and o200k families: after a
/// letter, digit or punctuation char (`ends`); after newlines that ended a punctuation piece
/// (`punct_newlines`); after a newline with no newline later in the whitespace run
/// (`\s*[\r\n]+` ends at the run's last one); the last blank before a non-space
/// (`\s+(?!\S)` leaves it).
#[allow(clippy::inline_always)]
#[inline(always)]
fn blank_starts(blank: u64, newline: u64, punct_newlines: u64, ends: u64) -> u64 {
    let white = blank | newline;
    // whitespace with a newline at or after it in its run (filled downwards, on reversed bits)
    let newline_ahead = fill_up(white.reverse_bits(), newline.reverse_bits()).reverse_bits();
    blank
        & ((ends << 1)
            | (punct_newlines << 1)
            | ((newline << 1) & !newline_ahead)
            | ((blank << 1) & !(white >> 1)))
}

/// How far a window's starts are sure, at most `cap`: not into a whitespace run that may go on
/// past the window, not past the first non-ASCII byte, and not into whitespace that reaches it
/// (the char may be whitespace too).
#[allow(clippy::inline_always)]
#[inline(always)]
fn seen_horizon(cap: u32, white: u64, wide: u64) -> u32 {
    let mut horizon = cap;
    if white >> 63 != 0 {
        horizon = horizon.min(run_start(white, 63));
    }
    if wide != 0 {
        let j = wide.trailing_zeros();
        horizon = horizon.min(j);
        if j > 0 && white >> (j - 1) & 1 != 0 {
            horizon = horizon.min(run_start(white, j - 1));
        }
    }
    horizon
}

/// The digits that start a piece: the first of each run (its later groups of three are cut by
/// [`digit_horizon`]), or every digit with single digits.
#[allow(clippy::inline_always)]
#[inline(always)]
fn digit_starts(digit: u64, max_digits: usize) -> u64 {
    if max_digits == 1 {
        digit
    } else {
        digit & !(digit << 1)
    }
}

/// Punctuation that starts a piece in GPT-2 and the cl100k family: not after punctuation (the
/// run is one piece) or a space (which the run takes), and the window's first byte.
#[allow(clippy::inline_always)]
#[inline(always)]
fn punct_starts(punct: u64, space: u64) -> u64 {
    (punct & !(punct << 1) & !(space << 1)) | (punct & 1)
}

/// How far digit groups of `max_digits` are sure: up to the fourth digit of a run where groups
/// of three begin (1 and whole runs need no count; other sizes are not supported: 1).
#[allow(clippy::inline_always)]
#[inline(always)]
fn digit_horizon(digit: u64, max_digits: usize) -> u32 {
    match max_digits {
        1 | usize::MAX => 64,
        3 => {
            let fourth = digit & (digit << 1) & (digit << 2) & (digit << 3);
            if fourth == 0 {
                64
            } else {
                fourth.trailing_zeros()
            }
        }
        _ => 1,
    }
}

/// [`Starts`] of the starts `all`, trusted below `horizon`.
#[allow(clippy::inline_always)]
#[inline(always)]
fn finish(all: u64, horizon: u32, wide: u64) -> Starts {
    let below = if horizon == 0 {
        0
    } else {
        (1u64 << horizon) - 1
    };
    Starts {
        bits: all & below,
        horizon,
        other_script: wide.count_ones() > 16,
    }
}

/// Whether [`cl100k_starts`] handles digit groups of `max_digits`.
pub(crate) fn supports_max_digits(max_digits: usize) -> bool {
    matches!(max_digits, 1 | 3 | usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn simd_classes_match_the_definition(bytes in prop::collection::vec(any::<u8>(), 64)) {
            let window: [u8; 64] = bytes.try_into().expect("64 bytes");
            prop_assert_eq!(classify(&window), classify_slow(&window));
            assert_every_classifier(&window);
        }

        #[test]
        fn fill_up_fills_each_run_from_its_first_seed(m in any::<u64>(), seeds in any::<u64>()) {
            let seeds = seeds & m;
            let mut want = 0u64;
            let mut on = false;
            for i in 0..64 {
                if m >> i & 1 == 0 {
                    on = false;
                } else if seeds >> i & 1 != 0 {
                    on = true;
                }
                if on {
                    want |= 1 << i;
                }
            }
            prop_assert_eq!(fill_up(m, seeds), want);
        }
    }

    #[test]
    fn latin_case_table_is_unicodes() {
        for cp in 0xc0u32..0x180 {
            let c = char::from_u32(cp).expect("a char");
            let k = cp - 0xc0;
            let upper = LATIN_UPPER[(k / 64) as usize] >> (k % 64) & 1 != 0;
            assert_eq!(upper, c.is_uppercase(), "{c:?}");
            assert!(upper || c.is_lowercase() || matches!(c, '×' | '÷'), "{c:?}");
        }
    }

    #[test]
    fn every_byte_value_has_its_class() {
        let mut window = [0u8; 64];
        for start in (0..256).step_by(64) {
            for (i, b) in window.iter_mut().enumerate() {
                *b = (start + i) as u8;
            }
            assert_eq!(classify(&window), classify_slow(&window));
            assert_every_classifier(&window);
        }
    }

    /// Both SIMD classifiers against the definition, whichever `classify` picks on this CPU
    /// (the AVX-512 one only where the CPU has it).
    fn assert_every_classifier(window: &[u8; 64]) {
        #[cfg(target_arch = "x86_64")]
        {
            assert_eq!(classify_sse2(window), classify_slow(window));
            if std::arch::is_x86_feature_detected!("avx512bw") {
                // SAFETY: the CPU has AVX-512BW.
                assert_eq!(unsafe { classify_avx512(window) }, classify_slow(window));
            }
        }
    }
}
