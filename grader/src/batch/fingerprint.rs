//! Token fingerprints of the sources a batch graded, so that the instructor's report can flag
//! near-identical submissions without keeping anyone's code: per exercise, the set of hashed
//! 5-token sequences of the source (comments, doc comments and layout ignored), as MOSS does.
//!
//! `OUT/fingerprints/<name>.txt` holds a line per exercise: its id, the `source_sha256` the
//! fingerprint was made from (the report uses a line only when it matches the scorecard), and
//! the hashes, sorted, in hex. Similarity is a hint for a human look, never a mark.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use proc_macro2::{Delimiter, TokenStream, TokenTree};

use crate::catalog::Catalog;
use crate::scorecard::{write_atomic, Scorecard};
use crate::source::{Found, Source};

/// Tokens per sequence: long enough that a shared idiom is not evidence alone, short enough
/// that an inserted statement spoils only a few sequences.
pub const SEQUENCE: usize = 5;

const HEADER: &str = "# locksmith fingerprints 1: per exercise, id, source_sha256, then the \
                      hashes of its 5-token sequences";

/// The hashed token sequences of one source, sorted and without repeats.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprint {
    pub hashes: Vec<u32>,
}

impl Fingerprint {
    /// The fingerprint of Rust source text; none when it does not even lex as Rust.
    pub fn of(code: &str) -> Option<Fingerprint> {
        let stream: TokenStream = code.parse().ok()?;
        let mut tokens = Vec::new();
        flatten(stream, &mut tokens);
        let mut hashes: Vec<u32> = tokens.windows(SEQUENCE).map(fnv).collect();
        if hashes.is_empty() && !tokens.is_empty() {
            hashes.push(fnv(&tokens));
        }
        hashes.sort_unstable();
        hashes.dedup();
        Some(Fingerprint { hashes })
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Without the sequences of `base` (the stub every student starts from: shared by all, so
    /// evidence of nothing).
    pub fn without(&self, base: &Fingerprint) -> Fingerprint {
        Fingerprint {
            hashes: self
                .hashes
                .iter()
                .copied()
                .filter(|h| base.hashes.binary_search(h).is_err())
                .collect(),
        }
    }

    /// Jaccard similarity: shared sequences over all sequences of either (0 for two empties).
    pub fn jaccard(&self, other: &Fingerprint) -> f64 {
        let (a, b) = (&self.hashes, &other.hashes);
        let (mut i, mut j, mut shared) = (0, 0, 0usize);
        while i < a.len() && j < b.len() {
            match a[i].cmp(&b[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    shared += 1;
                    i += 1;
                    j += 1;
                }
            }
        }
        let union = a.len() + b.len() - shared;
        if union == 0 {
            0.0
        } else {
            shared as f64 / union as f64
        }
    }
}

/// Tokens as text, groups opened and closed, with what a copier changes cheaply taken out:
/// `#[doc = "…"]` attributes (doc comments) dropped, names and literals made placeholders (as
/// JPlag and MOSS do), so renaming a variable or rewording a message changes nothing.
fn flatten(stream: TokenStream, out: &mut Vec<String>) {
    let trees: Vec<TokenTree> = stream.into_iter().collect();
    let mut i = 0;
    while i < trees.len() {
        if let Some(skip) = doc_attribute(&trees[i..]) {
            i += skip;
            continue;
        }
        match &trees[i] {
            TokenTree::Group(group) => {
                let (open, close) = match group.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Brace => ("{", "}"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::None => ("", ""),
                };
                if !open.is_empty() {
                    out.push(open.to_string());
                }
                flatten(group.stream(), out);
                if !close.is_empty() {
                    out.push(close.to_string());
                }
            }
            TokenTree::Ident(ident) => {
                let text = ident.to_string();
                if KEYWORDS.contains(&text.as_str()) {
                    out.push(text);
                } else {
                    out.push("$".to_string());
                }
            }
            TokenTree::Punct(punct) => out.push(punct.as_char().to_string()),
            TokenTree::Literal(_) => out.push("\"".to_string()),
        }
        i += 1;
    }
}

/// Kept as themselves: the shape of the code. Every other identifier is one placeholder.
const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern", "false", "fn",
    "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref",
    "return", "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe",
    "use", "where", "while",
];

/// How many trees a `#[doc …]` or `#![doc …]` at the start of `trees` spans.
fn doc_attribute(trees: &[TokenTree]) -> Option<usize> {
    let TokenTree::Punct(hash) = trees.first()? else {
        return None;
    };
    if hash.as_char() != '#' {
        return None;
    }
    let bang = matches!(trees.get(1), Some(TokenTree::Punct(p)) if p.as_char() == '!');
    let at = if bang { 2 } else { 1 };
    let TokenTree::Group(group) = trees.get(at)? else {
        return None;
    };
    let first = group.stream().into_iter().next();
    let is_doc = group.delimiter() == Delimiter::Bracket
        && matches!(first, Some(TokenTree::Ident(ident)) if ident == "doc");
    is_doc.then_some(at + 1)
}

/// FNV-1a over the tokens, each followed by a separator, folded to 32 bits: stable across runs
/// and machines, and with a source's thousand-odd sequences, two of them collide about once in
/// a few thousand pairs of sources (a Jaccard off by a thousandth).
fn fnv(tokens: &[String]) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for token in tokens {
        for byte in token.bytes().chain([0xff]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    (hash ^ (hash >> 32)) as u32
}

pub fn path(out: &Path, name: &str) -> PathBuf {
    out.join("fingerprints").join(format!("{name}.txt"))
}

/// Writes the fingerprints of `card`'s exercises, read again from `source`: only a file whose
/// bytes are those graded (same `source_sha256`) is fingerprinted.
pub fn save(
    catalog: &Catalog,
    out: &Path,
    name: &str,
    source: &Source,
    card: &Scorecard,
) -> Result<()> {
    let mut text = format!("{HEADER}\n");
    for exercise in &card.exercises {
        let Found::File { code, .. } = source.read(&catalog.root, &exercise.id) else {
            continue;
        };
        if crate::sha256_hex(code.as_bytes()) != exercise.source_sha256 {
            continue;
        }
        if let Some(fingerprint) = Fingerprint::of(&code) {
            text.push_str(&line(&exercise.id, &exercise.source_sha256, &fingerprint));
        }
    }
    write_atomic(&path(out, name), &text)
}

/// Whether `name`'s fingerprints in `out` cover every source of `card` that has some.
pub fn current(out: &Path, name: &str, card: &Scorecard) -> bool {
    let Ok(text) = std::fs::read_to_string(path(out, name)) else {
        return false;
    };
    let saved = parse(&text);
    card.exercises
        .iter()
        .filter(|e| !e.source_sha256.is_empty())
        .all(|e| {
            saved
                .get(&e.id)
                .is_some_and(|(sha, _)| *sha == e.source_sha256)
        })
}

fn line(id: &str, sha256: &str, fingerprint: &Fingerprint) -> String {
    let mut line = format!("{id} {sha256}");
    for hash in &fingerprint.hashes {
        line.push_str(&format!(" {hash:08x}"));
    }
    line.push('\n');
    line
}

/// Exercise id → (source_sha256, fingerprint); lines that do not parse are left out.
pub fn parse(text: &str) -> BTreeMap<String, (String, Fingerprint)> {
    let mut found = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let mut words = line.split_ascii_whitespace();
        let (Some(id), Some(sha)) = (words.next(), words.next()) else {
            continue;
        };
        let hashes: Option<Vec<u32>> = words.map(|w| u32::from_str_radix(w, 16).ok()).collect();
        if let Some(mut hashes) = hashes {
            hashes.sort_unstable();
            hashes.dedup();
            found.insert(id.to_string(), (sha.to_string(), Fingerprint { hashes }));
        }
    }
    found
}

/// The fingerprints of `name` in `out` whose source is the one its scorecard graded.
pub fn load(out: &Path, name: &str, card: &Scorecard) -> BTreeMap<String, Fingerprint> {
    let Ok(text) = std::fs::read_to_string(path(out, name)) else {
        return BTreeMap::new();
    };
    parse(&text)
        .into_iter()
        .filter(|(id, (sha, _))| {
            card.exercises
                .iter()
                .any(|e| &e.id == id && &e.source_sha256 == sha)
        })
        .map(|(id, (_, fingerprint))| (id, fingerprint))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> String {
        let root = crate::workspace_root();
        std::fs::read_to_string(root.join(path)).unwrap()
    }

    #[test]
    fn comments_names_literals_and_layout_are_not_evidence() {
        let a = Fingerprint::of("/// Adds.\nfn add(a: u32, b: u32) -> u32 { a + b + 1 } // sum")
            .unwrap();
        let b = Fingerprint::of(
            "/// Sums two numbers.\nfn sum(x: u32,\n       y: u32) -> u32 {\n    x + y + 2\n}",
        )
        .unwrap();
        assert_eq!(a, b);
        assert!(!a.is_empty());
        let c = Fingerprint::of("fn add(a: u32, b: u32) -> u32 { a - b + 1 }").unwrap();
        assert!(a.jaccard(&c) < 1.0 && a.jaccard(&c) > 0.0);
        assert!(Fingerprint::of("fn broken( {").is_none());
    }

    #[test]
    fn lines_read_back() {
        let fingerprint = Fingerprint::of(&file("solutions/02_lock/src/lib.rs")).unwrap();
        let text = format!("{HEADER}\n{}", line("02_lock", "abc", &fingerprint));
        let parsed = parse(&text);
        assert_eq!(parsed["02_lock"], ("abc".to_string(), fingerprint));
    }

    /// The report's threshold against the course's own code: a copy with names changed is
    /// flagged, and no correct answer of `grader/tests/fixtures/correct/`, written
    /// independently, is flagged against the reference solution.
    #[test]
    fn renamed_copies_are_flagged_and_independent_answers_are_not() {
        use crate::batch::report::analysis::SIMILAR;
        let root = crate::workspace_root();
        let catalog = crate::Catalog::load(&root).unwrap();
        for exercise in &catalog.exercises {
            let id = &exercise.id;
            let stub = Fingerprint::of(&file(&format!("exercises/{id}/src/lib.rs"))).unwrap();
            let code = file(&format!("solutions/{id}/src/lib.rs"));
            let solution = Fingerprint::of(&code).unwrap().without(&stub);
            let renamed = code
                .replace("deadline", "until")
                .replace("state", "word")
                .replace("timeout", "patience");
            let renamed = Fingerprint::of(&renamed).unwrap().without(&stub);
            assert!(solution.jaccard(&renamed) >= SIMILAR, "{id}");
            let dir = root.join("grader/tests/fixtures/correct").join(id);
            for entry in std::fs::read_dir(&dir).into_iter().flatten() {
                let path = entry.unwrap().path();
                let other = Fingerprint::of(&std::fs::read_to_string(&path).unwrap())
                    .unwrap()
                    .without(&stub);
                let similarity = solution.jaccard(&other);
                assert!(
                    similarity < SIMILAR - 0.3,
                    "{}: {similarity}",
                    path.display()
                );
            }
        }
    }
}
