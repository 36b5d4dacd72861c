//! Finds what matters in token streams syn leaves unparsed: macro invocations' arguments,
//! `macro_rules!` bodies and attribute arguments.
//!
//! Macro input is not Rust until expanded, so this works on token patterns: paths
//! (`a::b`, `::a::b`, `$crate::a`), nested invocations (`name!(...)`), attributes (`#[...]`),
//! `extern "C"`, `extern crate`, `mod name;`, and the names items are given (`struct Name`).

use proc_macro2::{Delimiter, Spacing, Span, TokenStream, TokenTree};

use super::transcribe;

/// A segment as written, with where it was written.
pub(crate) type Segment = (String, Span);

/// One thing found in a token stream.
#[derive(Debug)]
pub(crate) enum Found {
    /// A path. `hidden_import`: followed by `as` or `::*`, as in a `use` inside a macro, which
    /// can bind names this check cannot follow.
    Path {
        segments: Vec<Segment>,
        leading_colon: bool,
        hidden_import: bool,
    },
    /// `path!(...)`; its arguments are scanned as well.
    Macro {
        segments: Vec<Segment>,
        leading_colon: bool,
    },
    /// The inside of `#[...]` or `#![...]`.
    Attribute(TokenStream),
    /// `extern "ABI"`, `extern {` or `extern fn`.
    Extern { abi: Option<String>, span: Span },
    /// `extern crate name`.
    ExternCrate { name: String, span: Span },
    /// `mod name;`
    OutOfLineMod { name: String, span: Span },
    /// `use` or `extern crate` whose path or alias comes from a macro's arguments
    /// (`use $krate as $alias;`): it can bind names this check cannot follow.
    ImportFromArguments(Span),
    /// A name an item gets (`struct Name`): a macro may define it.
    Name(String),
    /// `macro_rules! name` inside a macro.
    MacroRules(String),
    /// A path or macro name a `macro_rules!` body builds from its arguments (see [`transcribe`]).
    Hidden(transcribe::Hidden),
}

/// Everything found in `tokens`, groups included.
pub(crate) fn scan(tokens: TokenStream) -> Vec<Found> {
    let mut found = Vec::new();
    scan_into(tokens, &mut found);
    found
}

fn scan_into(tokens: TokenStream, found: &mut Vec<Found>) {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut i = 0;
    while i < tokens.len() {
        i = step(&tokens, i, found);
    }
}

/// Looks at the token at `i` (and as many after it as a pattern takes); returns the next index.
fn step(tokens: &[TokenTree], i: usize, found: &mut Vec<Found>) -> usize {
    match &tokens[i] {
        TokenTree::Group(group) => {
            scan_into(group.stream(), found);
            i + 1
        }
        TokenTree::Literal(_) => i + 1,
        TokenTree::Punct(punct) => match punct.as_char() {
            '$' => match tokens.get(i + 1) {
                Some(TokenTree::Ident(ident)) if ident == "crate" => {
                    path(tokens, i + 1, false, found)
                }
                // A macro_rules metavariable and anything it is the root of: unknowable here.
                Some(TokenTree::Ident(_)) => skip_path(tokens, i + 1),
                _ => i + 1,
            },
            ':' if is_path_sep(tokens, i) && leading_colon_allowed(tokens, i) => {
                match tokens.get(i + 2) {
                    Some(TokenTree::Ident(_)) => path(tokens, i + 2, true, found),
                    _ => i + 2,
                }
            }
            '#' => attribute(tokens, i, found),
            // A lifetime or label: `'a`.
            '\'' => i + 2,
            _ => i + 1,
        },
        TokenTree::Ident(ident) => {
            let word = ident.to_string();
            if follows_field_dot(tokens, i) {
                return skip_path(tokens, i);
            }
            match word.as_str() {
                "extern" => return extern_(tokens, i, found),
                "use" => {
                    let end = (i..tokens.len())
                        .find(|&k| matches!(&tokens[k], TokenTree::Punct(p) if p.as_char() == ';'))
                        .unwrap_or(tokens.len());
                    if tokens[i..end].iter().any(has_metavariable) {
                        found.push(Found::ImportFromArguments(ident.span()));
                    }
                }
                "mod" => {
                    if let (Some(TokenTree::Ident(name)), Some(TokenTree::Punct(semi))) =
                        (tokens.get(i + 1), tokens.get(i + 2))
                    {
                        if semi.as_char() == ';' {
                            found.push(Found::OutOfLineMod {
                                name: name.to_string(),
                                span: ident.span(),
                            });
                            return i + 3;
                        }
                    }
                }
                _ => {}
            }
            if is_item_keyword(&word) {
                if let Some(TokenTree::Ident(name)) = tokens.get(i + 1) {
                    found.push(Found::Name(unraw(name)));
                }
            }
            path(tokens, i, false, found)
        }
    }
}

/// Reads a path whose first segment is the identifier at `i`.
fn path(tokens: &[TokenTree], i: usize, leading_colon: bool, found: &mut Vec<Found>) -> usize {
    let mut segments = Vec::new();
    let mut j = i;
    while let Some(TokenTree::Ident(ident)) = tokens.get(j) {
        segments.push((unraw(ident), ident.span()));
        if is_path_sep(tokens, j + 1) && matches!(tokens.get(j + 3), Some(TokenTree::Ident(_))) {
            j += 3;
        } else {
            j += 1;
            break;
        }
    }
    // `name!(...)`, but not `a != b` (`!` joined to `=`).
    if let (Some(TokenTree::Punct(bang)), Some(TokenTree::Group(_))) =
        (tokens.get(j), tokens.get(j + 1))
    {
        if bang.as_char() == '!' && bang.spacing() == Spacing::Alone {
            found.push(Found::Macro {
                segments,
                leading_colon,
            });
            return j + 1;
        }
    }
    // `macro_rules! name`.
    if segments.len() == 1 && segments[0].0 == "macro_rules" {
        if let Some(TokenTree::Ident(name)) = tokens.get(j + 1) {
            found.push(Found::MacroRules(unraw(name)));
            if let Some(TokenTree::Group(rules)) = tokens.get(j + 2) {
                found.extend(
                    transcribe::macro_rules(rules.stream())
                        .into_iter()
                        .map(Found::Hidden),
                );
            }
            return j + 2;
        }
    }
    let renamed = matches!(tokens.get(j), Some(TokenTree::Ident(word)) if word == "as");
    let glob = is_path_sep(tokens, j)
        && matches!(tokens.get(j + 2), Some(TokenTree::Punct(star)) if star.as_char() == '*');
    found.push(Found::Path {
        segments,
        leading_colon,
        hidden_import: renamed || glob,
    });
    j
}

/// Skips a path that cannot be resolved (a metavariable's, a field's or a method's).
fn skip_path(tokens: &[TokenTree], mut i: usize) -> usize {
    while is_path_sep(tokens, i + 1) && matches!(tokens.get(i + 3), Some(TokenTree::Ident(_))) {
        i += 3;
    }
    i + 1
}

/// `#[...]` or `#![...]` at `i`.
fn attribute(tokens: &[TokenTree], i: usize, found: &mut Vec<Found>) -> usize {
    let mut j = i + 1;
    if matches!(tokens.get(j), Some(TokenTree::Punct(bang)) if bang.as_char() == '!') {
        j += 1;
    }
    match tokens.get(j) {
        Some(TokenTree::Group(group)) if group.delimiter() == Delimiter::Bracket => {
            found.push(Found::Attribute(group.stream()));
            // The brackets are scanned like any group, for paths and macros inside.
            j
        }
        _ => i + 1,
    }
}

/// `extern` at `i`: FFI or `extern crate`.
fn extern_(tokens: &[TokenTree], i: usize, found: &mut Vec<Found>) -> usize {
    let span = tokens[i].span();
    match tokens.get(i + 1) {
        Some(TokenTree::Literal(abi)) => {
            let abi = abi.to_string().trim_matches('"').to_string();
            found.push(Found::Extern {
                abi: Some(abi),
                span,
            });
            i + 2
        }
        Some(TokenTree::Ident(word)) if word == "crate" => {
            let end = (i..tokens.len().min(i + 6))
                .find(|&k| matches!(&tokens[k], TokenTree::Punct(p) if p.as_char() == ';'))
                .unwrap_or(tokens.len().min(i + 6));
            if tokens[i..end].iter().any(has_metavariable) {
                found.push(Found::ImportFromArguments(span));
            } else if let Some(TokenTree::Ident(name)) = tokens.get(i + 2) {
                found.push(Found::ExternCrate {
                    name: unraw(name),
                    span,
                });
                return i + 3;
            }
            i + 2
        }
        Some(TokenTree::Ident(word)) if word == "fn" => {
            found.push(Found::Extern { abi: None, span });
            i + 1
        }
        Some(TokenTree::Group(group)) if group.delimiter() == Delimiter::Brace => {
            found.push(Found::Extern { abi: None, span });
            i + 1
        }
        _ => i + 1,
    }
}

/// Whether a token is, or holds, a `$` (a macro_rules metavariable).
fn has_metavariable(token: &TokenTree) -> bool {
    match token {
        TokenTree::Punct(p) => p.as_char() == '$',
        TokenTree::Group(group) => group.stream().into_iter().any(|t| has_metavariable(&t)),
        _ => false,
    }
}

/// `::` at `i` (two `:` puncts, the first joined to the second).
fn is_path_sep(tokens: &[TokenTree], i: usize) -> bool {
    matches!(
        (tokens.get(i), tokens.get(i + 1)),
        (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
            if a.as_char() == ':' && a.spacing() == Spacing::Joint && b.as_char() == ':'
    )
}

/// Whether `::` at `i` starts an absolute path: not after `>` (`<T as X>::f`, `Vec::<u8>::new`)
/// nor after a name it continues.
fn leading_colon_allowed(tokens: &[TokenTree], i: usize) -> bool {
    match i.checked_sub(1).map(|p| &tokens[p]) {
        Some(TokenTree::Punct(p)) => p.as_char() != '>',
        Some(TokenTree::Ident(word)) => is_keyword(&word.to_string()),
        Some(TokenTree::Group(_)) => false,
        _ => true,
    }
}

/// `x.name` (a field or method), but not `0..name`.
fn follows_field_dot(tokens: &[TokenTree], i: usize) -> bool {
    let dot = |k: usize| matches!(tokens.get(k), Some(TokenTree::Punct(p)) if p.as_char() == '.');
    i >= 1 && dot(i - 1) && !(i >= 2 && dot(i - 2))
}

fn is_item_keyword(word: &str) -> bool {
    matches!(
        word,
        "struct" | "enum" | "union" | "fn" | "mod" | "trait" | "type" | "const" | "static"
    )
}

pub(crate) fn is_keyword(word: &str) -> bool {
    matches!(
        word,
        "as" | "async"
            | "await"
            | "box"
            | "break"
            | "const"
            | "continue"
            | "dyn"
            | "else"
            | "enum"
            | "extern"
            | "fn"
            | "for"
            | "if"
            | "impl"
            | "in"
            | "let"
            | "loop"
            | "match"
            | "mod"
            | "move"
            | "mut"
            | "pub"
            | "ref"
            | "return"
            | "static"
            | "struct"
            | "trait"
            | "type"
            | "union"
            | "unsafe"
            | "use"
            | "where"
            | "while"
            | "yield"
    )
}

/// An identifier without its `r#` prefix.
pub(crate) fn unraw(ident: &proc_macro2::Ident) -> String {
    let name = ident.to_string();
    match name.strip_prefix("r#") {
        Some(bare) => bare.to_string(),
        None => name,
    }
}
