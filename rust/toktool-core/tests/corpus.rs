//! `corpus::encode_files` against `Tokenizer::encode` per document: every input format, chunk
//! sizes, interruption and resume, gzip, and the errors that name a file and line.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use serde_json::json;
use toktool_core::corpus::{encode_files, Dtype, EncodeFilesOptions, Split};
use toktool_core::{Error, Tokenizer};

/// A byte-level BPE with a few merges and one special token (id 300).
fn tokenizer() -> Tokenizer {
    let table = toktool_core::byte_level::byte_to_char_table();
    let mut vocab: serde_json::Map<String, serde_json::Value> =
        (0..256).map(|b| (table[b].to_string(), json!(b))).collect();
    for (i, merged) in ["Ġt", "he", "Ġthe", "in"].iter().enumerate() {
        vocab.insert((*merged).to_string(), json!(256 + i));
    }
    let doc = json!({
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
        "model": {"type": "BPE", "vocab": vocab,
                  "merges": [["Ġ", "t"], ["h", "e"], ["Ġt", "he"], ["i", "n"]]},
        "added_tokens": [{"id": 300, "content": "<|end|>", "special": true, "single_word": false,
                          "lstrip": false, "rstrip": false, "normalized": false}],
    });
    Tokenizer::from_json_str(&doc.to_string()).expect("test tokenizer loads")
}

const DOCS: [&str; 7] = [
    "the thin thing in the inn",
    "",
    "héllo wörld, 日本語のテキスト 😀",
    "tabs\tand  spaces   then <|end|> a special token",
    "x",
    "  leading and trailing  ",
    "numbers 12345 and symbols #!?",
];

fn options() -> EncodeFilesOptions {
    EncodeFilesOptions {
        tokenizer_name: "test".into(),
        tokenizer_fingerprint: "fp".into(),
        ..EncodeFilesOptions::default()
    }
}

fn run(inputs: &[PathBuf], out: &Path, options: &EncodeFilesOptions) -> Result<bool, Error> {
    encode_files(&tokenizer(), inputs, out, options, &mut |_| {
        ControlFlow::Continue(())
    })
    .map(|summary| summary.complete)
}

/// The documents of an output, read back from the token and index files.
fn read_back(out: &Path, dtype: Dtype) -> Vec<Vec<u32>> {
    let bytes = std::fs::read(out).expect("token file");
    let ids: Vec<u32> = match dtype {
        Dtype::U16 => bytes
            .chunks(2)
            .map(|c| u32::from(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        Dtype::U32 => bytes
            .chunks(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    };
    let idx: Vec<u64> = std::fs::read(out.with_extension("idx"))
        .expect("index file")
        .chunks(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    assert_eq!(idx.first(), Some(&0));
    assert_eq!(*idx.last().expect("entries") as usize, ids.len());
    idx.windows(2)
        .map(|w| ids[w[0] as usize..w[1] as usize].to_vec())
        .collect()
}

fn expected(docs: &[&str], bos: Option<u32>, eos: Option<u32>) -> Vec<Vec<u32>> {
    let tok = tokenizer();
    docs.iter()
        .map(|d| {
            bos.into_iter()
                .chain(tok.encode(d).expect("encodes"))
                .chain(eos)
                .collect()
        })
        .collect()
}

/// The same documents as a JSONL file, a text file of lines, and one text file per document.
fn write_inputs(dir: &Path) -> (PathBuf, PathBuf, Vec<PathBuf>) {
    let jsonl = dir.join("docs.jsonl");
    let mut lines = String::new();
    for (i, doc) in DOCS.iter().enumerate() {
        lines += &json!({"id": i, "meta": {"text": 1}, "text": doc}).to_string();
        lines += if i == 2 { "\n\n" } else { "\n" }; // a blank line is skipped
    }
    std::fs::write(&jsonl, lines).expect("write");
    let txt = dir.join("docs.txt");
    std::fs::write(&txt, DOCS.join("\r\n")).expect("write"); // no final newline
    let files = DOCS
        .iter()
        .enumerate()
        .map(|(i, doc)| {
            let path = dir.join(format!("doc{i}.md"));
            std::fs::write(&path, doc).expect("write");
            path
        })
        .collect();
    (jsonl, txt, files)
}

#[test]
fn every_input_kind_gives_encode_of_each_document() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (jsonl, txt, files) = write_inputs(dir.path());
    let out = dir.path().join("t.bin");
    for (inputs, split) in [
        (vec![jsonl.clone()], Split::File),
        (vec![txt.clone()], Split::Lines),
        (files.clone(), Split::File),
    ] {
        let opts = EncodeFilesOptions {
            split,
            resume: false,
            ..options()
        };
        assert!(run(&inputs, &out, &opts).expect("encodes"));
        assert_eq!(
            read_back(&out, Dtype::U16),
            expected(&DOCS, None, None),
            "{inputs:?}"
        );
    }
    let opts = EncodeFilesOptions {
        resume: false,
        ..options()
    };
    run(&[txt], &out, &opts).expect("encodes");
    assert_eq!(
        read_back(&out, Dtype::U16),
        expected(&[&DOCS.join("\r\n")], None, None)
    );
}

#[test]
fn bos_eos_and_uint32_are_honoured() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (jsonl, _, _) = write_inputs(dir.path());
    let out = dir.path().join("t.bin");
    let opts = EncodeFilesOptions {
        bos: Some(1),
        eos: Some(300),
        dtype: Some(Dtype::U32),
        ..options()
    };
    run(&[jsonl], &out, &opts).expect("encodes");
    assert_eq!(
        read_back(&out, Dtype::U32),
        expected(&DOCS, Some(1), Some(300))
    );
}

#[test]
fn gzip_inputs_read_like_plain_ones() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tempdir");
    let (jsonl, _, _) = write_inputs(dir.path());
    let gz = dir.path().join("docs.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).expect("create"),
        flate2::Compression::default(),
    );
    enc.write_all(&std::fs::read(&jsonl).expect("read"))
        .expect("write");
    enc.finish().expect("finish");
    let out = dir.path().join("t.bin");
    // Tiny chunks: the resume position inside a .gz stream is exercised too.
    let opts = EncodeFilesOptions {
        chunk_bytes: 1,
        ..options()
    };
    stop_after(std::slice::from_ref(&gz), &out, &opts, 3);
    assert!(run(&[gz], &out, &opts).expect("resumes"));
    assert_eq!(read_back(&out, Dtype::U16), expected(&DOCS, None, None));
}

/// Run until `chunks` chunks are committed, then stop as an interrupted run would.
fn stop_after(inputs: &[PathBuf], out: &Path, options: &EncodeFilesOptions, chunks: usize) {
    let mut left = chunks;
    let summary = encode_files(&tokenizer(), inputs, out, options, &mut |_| {
        left -= 1;
        if left == 0 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .expect("encodes");
    assert!(!summary.complete);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Stopping after any chunk (leaving junk after the last commit, as a crash would) and
    /// resuming, with any chunk sizes before and after, gives the bytes of one uninterrupted run.
    #[test]
    fn resumed_runs_are_byte_identical(first in 1usize..80, second in 1usize..200, stops in 1usize..6) {
        let dir = tempfile::tempdir().expect("tempdir");
        let (jsonl, txt, files) = write_inputs(dir.path());
        let mut inputs = vec![jsonl, txt];
        inputs.extend(files);
        let whole = dir.path().join("whole.bin");
        let opts = EncodeFilesOptions { split: Split::Lines, eos: Some(300), ..options() };
        prop_assert!(run(&inputs, &whole, &opts).expect("encodes"));
        let out = dir.path().join("resumed.bin");
        let small = EncodeFilesOptions { chunk_bytes: first, ..opts.clone() };
        stop_after(&inputs, &out, &small, stops);
        for path in [out.clone(), out.with_extension("idx")] {
            let mut bytes = std::fs::read(&path).expect("read");
            bytes.extend_from_slice(b"\xff\xff\xff junk of a batch that was never committed");
            std::fs::write(&path, bytes).expect("write");
        }
        let other = EncodeFilesOptions { chunk_bytes: second, ..opts };
        prop_assert!(run(&inputs, &out, &other).expect("resumes"));
        for ext in ["bin", "idx"] {
            prop_assert_eq!(
                std::fs::read(out.with_extension(ext)).expect("read"),
                std::fs::read(whole.with_extension(ext)).expect("read")
            );
        }
    }
}

#[test]
fn chunks_of_empty_documents_stay_small() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blank = dir.path().join("blank.txt");
    std::fs::write(&blank, "\n".repeat(1000)).expect("write");
    let out = dir.path().join("t.bin");
    let opts = EncodeFilesOptions {
        split: Split::Lines,
        chunk_bytes: 10,
        ..options()
    };
    let mut sizes = Vec::new();
    let summary = encode_files(&tokenizer(), &[blank], &out, &opts, &mut |progress| {
        sizes.push(progress.documents);
        ControlFlow::Continue(())
    })
    .expect("encodes");
    assert_eq!(summary.documents, 1000);
    assert_eq!(sizes.len(), 100, "ten empty lines per chunk");
    assert_eq!(read_back(&out, Dtype::U16), vec![Vec::<u32>::new(); 1000]);
}

#[test]
fn serial_and_parallel_runs_write_the_same_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (jsonl, txt, _) = write_inputs(dir.path());
    let inputs = [jsonl, txt];
    let opts = EncodeFilesOptions {
        split: Split::Lines,
        resume: false,
        ..options()
    };
    let (a, b) = (dir.path().join("a.bin"), dir.path().join("b.bin"));
    run(&inputs, &a, &opts).expect("encodes");
    toktool_core::set_parallelism(false);
    let serial = run(&inputs, &b, &opts);
    toktool_core::set_parallelism(true);
    serial.expect("encodes");
    assert_eq!(std::fs::read(a).expect("a"), std::fs::read(b).expect("b"));
}

fn message(result: Result<bool, Error>) -> String {
    result.expect_err("fails").to_string()
}

#[test]
fn errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("t.bin");
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"text\": \"ok\"}\n{\"body\": \"x\"}\n").expect("write");
    assert!(message(run(std::slice::from_ref(&bad), &out, &options()))
        .contains("bad.jsonl:2: no \"text\" field"));
    std::fs::write(&bad, "{\"text\": \"ok\"}\n\n{\"text\": 3}\n").expect("write");
    assert!(message(run(std::slice::from_ref(&bad), &out, &options()))
        .contains("bad.jsonl:3: the \"text\" field is not a string"));
    std::fs::write(&bad, "{\"text\": \"ok\"}\n{\"text\": \"unterminated}\n").expect("write");
    assert!(message(run(&[bad], &out, &options())).contains("bad.jsonl:2: not a JSON object"));
    let latin1 = dir.path().join("latin1.txt");
    std::fs::write(&latin1, b"fine\ncaf\xe9\n").expect("write");
    let opts = EncodeFilesOptions {
        split: Split::Lines,
        ..options()
    };
    assert!(message(run(&[latin1], &out, &opts))
        .contains("latin1.txt:2: not UTF-8 text (at byte 3 of the line)"));
    let missing = dir.path().join("missing.txt");
    assert!(matches!(
        run(&[missing], &out, &options()),
        Err(Error::Io { .. })
    ));
    let txt = dir.path().join("a.txt");
    std::fs::write(&txt, "a").expect("write");
    assert!(message(run(
        std::slice::from_ref(&txt),
        &dir.path().join("t.idx"),
        &options()
    ))
    .contains("tokens.bin"));
    assert!(matches!(
        run(
            std::slice::from_ref(&txt),
            &dir.path().join("no/such/dir/t.bin"),
            &options()
        ),
        Err(Error::Io { .. })
    ));
    let opts = EncodeFilesOptions {
        eos: Some(5000),
        ..options()
    };
    assert!(matches!(
        run(&[txt], &out, &opts),
        Err(Error::InvalidId { .. })
    ));
}

#[test]
fn a_run_over_changed_inputs_or_options_is_not_continued() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (jsonl, txt, _) = write_inputs(dir.path());
    let out = dir.path().join("t.bin");
    let opts = EncodeFilesOptions {
        chunk_bytes: 1,
        ..options()
    };
    stop_after(&[jsonl.clone(), txt.clone()], &out, &opts, 2);
    let other = EncodeFilesOptions {
        eos: Some(300),
        ..opts.clone()
    };
    assert!(message(run(&[jsonl.clone(), txt.clone()], &out, &other)).contains("other options"));
    let fp = EncodeFilesOptions {
        tokenizer_fingerprint: "other".into(),
        ..opts.clone()
    };
    assert!(message(run(&[jsonl.clone(), txt.clone()], &out, &fp)).contains("another tokenizer"));
    std::fs::write(&txt, "changed").expect("write");
    assert!(message(run(&[jsonl.clone(), txt.clone()], &out, &opts))
        .contains("changed since the run started"));
    let fresh = EncodeFilesOptions {
        resume: false,
        ..opts
    };
    assert!(run(&[jsonl, txt], &out, &fresh).expect("starts over"));
}
