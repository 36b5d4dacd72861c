//! Paths and macro names a `macro_rules!` body assembles from its arguments.
//!
//! The rest of the rules read macro bodies and invocations as tokens, unexpanded: a path is
//! seen only where its segments are written next to each other (`std::sync::Mutex`). A body can
//! instead put a path together at expansion from pieces written apart: metavariables as segments
//! (`$a::$b::$c`, `$root::sync::Mutex`, `std::$m::Mutex`, `std::process::$f`), a repetition with
//! `::` as separator or edge (`$($seg)::*`, `std $(::$seg)*`), a `tt` argument that is itself
//! the `::` (`std $sep sync`), a stream of tokens glued onto a name (`std $($rest)*`), a macro
//! that writes another macro's `$` (`$d($d s)::*`), or a macro named by an argument (`$m!(...)`).
//! None of these can be resolved without expanding the macro, so each is refused, on the line
//! that builds it.
//!
//! How: each rule's body is laid out flat, as the tokens it yields with every repetition taken
//! once, as few times as it allows and twice (so both a repetition's inside and its edges meet
//! their neighbours). A join between a path segment and `::`, or a `tt` that may be `::` between
//! two segments, is refused unless both sides were written next to each other in the source.

use std::collections::{HashMap, HashSet};

use proc_macro2::{Delimiter, Spacing, Span, TokenStream, TokenTree};

use super::tokens;

pub(crate) const BUILT_PATH: &str = "a macro that builds a path from its arguments hides what \
                                     it names: write the path outside the macro";

pub(crate) const BUILT_ATTRIBUTE: &str = "an attribute taken from a macro's arguments hides \
                                          what it does: write it in the macro, or pass it \
                                          whole, as `#[...]`";

pub(crate) const BUILT_MACRO_NAME: &str = "a macro that calls a macro named by its arguments \
                                           hides which macro runs: write the macro's name in \
                                           the macro";

/// A path or macro name a body builds from its arguments.
#[derive(Debug)]
pub(crate) struct Hidden {
    pub(crate) span: Span,
    pub(crate) item: String,
    pub(crate) reason: &'static str,
}

/// Bounds the flat layout of a body (repetitions nested deep are taken twice at every level).
const MAX_ATOMS: usize = 100_000;

/// The refused constructs in the rules of one `macro_rules!` (the tokens inside its braces).
///
/// A `macro_rules!` inside a body is skipped here: the token scan meets it on its own and reads
/// it with the outer body's metavariables as unknown.
pub(crate) fn macro_rules(rules: TokenStream) -> Vec<Hidden> {
    let tokens: Vec<TokenTree> = rules.into_iter().collect();
    let mut hidden: Vec<Hidden> = Vec::new();
    let mut seen = HashSet::new();
    let mut i = 0;
    while i < tokens.len() {
        let arm = match (
            tokens.get(i),
            tokens.get(i + 1),
            tokens.get(i + 2),
            tokens.get(i + 3),
        ) {
            (
                Some(TokenTree::Group(matcher)),
                Some(TokenTree::Punct(eq)),
                Some(TokenTree::Punct(gt)),
                Some(TokenTree::Group(body)),
            ) if eq.as_char() == '=' && gt.as_char() == '>' => Some((matcher, body)),
            _ => None,
        };
        let Some((matcher, body)) = arm else {
            i += 1;
            continue;
        };
        let mut fragments = Fragments::default();
        fragments.read(matcher.stream());
        for mode in [Mode::Twice, Mode::Once, Mode::Fewest] {
            let mut layout = Layout {
                fragments: &fragments,
                mode,
                groups: 0,
                atoms: Vec::new(),
                attributes: Vec::new(),
            };
            layout.stream(body.stream());
            let attributes = std::mem::take(&mut layout.attributes);
            for found in judge(&layout.atoms).into_iter().chain(attributes) {
                let at = found.span.start();
                if seen.insert((at.line, at.column)) {
                    hidden.push(found);
                }
            }
        }
        i += 4;
    }
    hidden
}

/// What a rule's matcher says of its metavariables.
#[derive(Default)]
struct Fragments {
    /// `$name:kind`.
    kinds: HashMap<String, String>,
    /// Metavariables matched as `$($name:tt)*` or `+`: a run of the invocation's tokens, in its
    /// order. Written back as `$($name)*`, the run is what the invocation wrote, already read.
    streams: HashSet<String>,
    /// Metavariables matched inside `#[...]`: the invocation writes the attribute whole.
    attributes: HashSet<String>,
}

impl Fragments {
    fn read(&mut self, matcher: TokenStream) {
        let tokens: Vec<TokenTree> = matcher.into_iter().collect();
        for (i, token) in tokens.iter().enumerate() {
            match token {
                TokenTree::Group(group) => {
                    if let Some(name) = attribute_var(&tokens, i) {
                        self.attributes.insert(name);
                    }
                    if is_dollar(tokens.get(i.wrapping_sub(1))) && is_op(tokens.get(i + 1)) {
                        let inner: Vec<TokenTree> = group.stream().into_iter().collect();
                        if let [TokenTree::Punct(dollar), TokenTree::Ident(name), TokenTree::Punct(colon), TokenTree::Ident(kind)] =
                            inner.as_slice()
                        {
                            if dollar.as_char() == '$' && colon.as_char() == ':' && kind == "tt" {
                                self.streams.insert(name.to_string());
                            }
                        }
                    }
                    self.read(group.stream());
                }
                TokenTree::Punct(dollar) if dollar.as_char() == '$' => {
                    if let (
                        Some(TokenTree::Ident(name)),
                        Some(TokenTree::Punct(colon)),
                        Some(TokenTree::Ident(kind)),
                    ) = (tokens.get(i + 1), tokens.get(i + 2), tokens.get(i + 3))
                    {
                        if colon.as_char() == ':' {
                            self.kinds.insert(name.to_string(), kind.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// How many times each repetition is laid out.
#[derive(Clone, Copy)]
enum Mode {
    Once,
    /// `*` and `?` none, `+` once.
    Fewest,
    Twice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `::`
    Sep,
    /// A name that can be a path segment (`std`, `self`, `$crate`).
    Name,
    /// A metavariable. `segment`: its fragment can be a path segment (`ident`, `tt`, `path`,
    /// `ty`, or unknown); `glue`: it can be any token, `::` included (`tt`, or unknown).
    Var {
        segment: bool,
        glue: bool,
    },
    /// `$($t)*` of a `$($t:tt)*`: any run of tokens.
    Stream,
    /// `!` alone (a macro call's, not `!=`'s).
    Bang,
    Open,
    Close,
    Other,
}

#[derive(Debug, Clone)]
struct Atom {
    kind: Kind,
    span: Span,
    text: String,
    /// Where it was written: (group, first token, last token); `None` for what an argument
    /// or a repetition's separator supplies.
    origin: Option<(usize, usize, usize)>,
}

impl Atom {
    /// Can be a path segment next to a `::`.
    fn touches_sep(&self) -> bool {
        matches!(self.kind, Kind::Name | Kind::Var { .. } | Kind::Stream)
    }

    /// Can be a path segment next to a `tt` that may be `::`.
    fn segment(&self) -> bool {
        matches!(
            self.kind,
            Kind::Name | Kind::Var { segment: true, .. } | Kind::Stream
        )
    }

    /// Can be or hold `::`.
    fn sep_like(&self) -> bool {
        matches!(
            self.kind,
            Kind::Sep | Kind::Var { glue: true, .. } | Kind::Stream
        )
    }

    fn pathish(&self) -> bool {
        matches!(
            self.kind,
            Kind::Sep | Kind::Name | Kind::Var { .. } | Kind::Stream
        )
    }
}

/// Whether `a` and `b` (in this order) were not written next to each other in one group.
fn apart(a: &Atom, b: &Atom) -> bool {
    match (a.origin, b.origin) {
        (Some((group_a, _, last_a)), Some((group_b, first_b, _))) => {
            group_a != group_b || last_a + 1 != first_b
        }
        _ => true,
    }
}

/// A body laid out flat.
struct Layout<'a> {
    fragments: &'a Fragments,
    mode: Mode,
    groups: usize,
    atoms: Vec<Atom>,
    /// Attributes named by arguments.
    attributes: Vec<Hidden>,
}

impl Layout<'_> {
    fn push(
        &mut self,
        kind: Kind,
        span: Span,
        text: impl Into<String>,
        origin: Option<(usize, usize, usize)>,
    ) {
        self.atoms.push(Atom {
            kind,
            span,
            text: text.into(),
            origin,
        });
    }

    fn stream(&mut self, stream: TokenStream) {
        let tokens: Vec<TokenTree> = stream.into_iter().collect();
        let group = self.groups;
        self.groups += 1;
        let mut i = 0;
        while i < tokens.len() && self.atoms.len() < MAX_ATOMS {
            i = self.token(&tokens, i, group);
        }
    }

    /// Lays out the token at `i` (and those it takes with it); returns the next index.
    fn token(&mut self, tokens: &[TokenTree], i: usize, group: usize) -> usize {
        let here = Some((group, i, i));
        match &tokens[i] {
            TokenTree::Punct(punct) => match punct.as_char() {
                '$' => self.dollar(tokens, i, group),
                ':' if is_path_sep(tokens, i) => {
                    self.push(Kind::Sep, punct.span(), "::", Some((group, i, i + 1)));
                    i + 2
                }
                '!' if punct.spacing() == Spacing::Alone => {
                    self.push(Kind::Bang, punct.span(), "!", here);
                    i + 1
                }
                // A lifetime or label: `'a`.
                '\'' => {
                    self.push(Kind::Other, punct.span(), "'", here);
                    if let Some(name) = tokens.get(i + 1) {
                        self.push(Kind::Other, name.span(), name.to_string(), None);
                    }
                    i + 2
                }
                c => {
                    self.push(Kind::Other, punct.span(), c.to_string(), here);
                    i + 1
                }
            },
            TokenTree::Ident(ident) => {
                let word = ident.to_string();
                // A macro_rules! inside: read on its own by the token scan.
                if word == "macro_rules" {
                    if let (
                        Some(TokenTree::Punct(bang)),
                        Some(TokenTree::Ident(_)),
                        Some(TokenTree::Group(_)),
                    ) = (tokens.get(i + 1), tokens.get(i + 2), tokens.get(i + 3))
                    {
                        if bang.as_char() == '!' {
                            self.push(Kind::Other, ident.span(), word, here);
                            return i + 4;
                        }
                    }
                }
                let kind = if is_segment_word(&word) {
                    Kind::Name
                } else {
                    Kind::Other
                };
                self.push(kind, ident.span(), tokens::unraw(ident), here);
                i + 1
            }
            TokenTree::Literal(literal) => {
                self.push(Kind::Other, literal.span(), literal.to_string(), here);
                i + 1
            }
            TokenTree::Group(inner) => {
                self.attribute(tokens, i);
                let (open, close) = delimiters(inner.delimiter());
                self.push(Kind::Open, inner.span_open(), open, here);
                self.stream(inner.stream());
                self.push(Kind::Close, inner.span_close(), close, here);
                i + 1
            }
        }
    }

    /// Refuses `#[$m]` (and `$m` inside `cfg_attr(...)` or `unsafe(...)`) if the group at `i`
    /// is an attribute's and `$m` was not matched as a whole `#[...]`.
    fn attribute(&mut self, tokens: &[TokenTree], i: usize) {
        let TokenTree::Group(group) = &tokens[i] else {
            return;
        };
        if group.delimiter() != Delimiter::Bracket || !is_attribute_at(tokens, i) {
            return;
        }
        let inner: Vec<TokenTree> = group.stream().into_iter().collect();
        let bound = |name: &str| self.fragments.attributes.contains(name);
        let hides = match inner.first() {
            Some(TokenTree::Punct(p)) if p.as_char() == '$' => {
                !matches!(inner.get(1), Some(TokenTree::Ident(name)) if bound(&name.to_string()))
            }
            Some(TokenTree::Ident(name)) if name == "cfg_attr" || name == "unsafe" => {
                unbound_var(&inner, &bound)
            }
            _ => false,
        };
        if hides {
            let text: String = group.stream().to_string();
            self.attributes.push(Hidden {
                span: group.span_open(),
                item: format!("#[{text}]"),
                reason: BUILT_ATTRIBUTE,
            });
        }
    }

    /// `$` at `i`: `$crate`, a metavariable or a repetition.
    fn dollar(&mut self, tokens: &[TokenTree], i: usize, group: usize) -> usize {
        let span = tokens[i].span();
        match tokens.get(i + 1) {
            Some(TokenTree::Ident(word)) if word == "crate" => {
                self.push(Kind::Name, span, "$crate", Some((group, i, i + 1)));
                i + 2
            }
            Some(TokenTree::Ident(name)) => {
                let name = name.to_string();
                let (segment, glue) = match self.fragments.kinds.get(&name).map(String::as_str) {
                    Some("ident" | "path" | "ty") => (true, false),
                    Some("tt") | None => (true, true),
                    Some(_) => (false, false),
                };
                if glue {
                    // It may be the `$` of a macro this body defines: `$d name`, `$d(...)`.
                    match tokens.get(i + 2) {
                        Some(TokenTree::Ident(next)) if is_segment_word(&next.to_string()) => {
                            let text = format!("${name} {next}");
                            self.push(Kind::Var { segment, glue }, span, text, None);
                            return i + 3;
                        }
                        Some(TokenTree::Group(inner))
                            if inner.delimiter() == Delimiter::Parenthesis =>
                        {
                            return self.repetition(tokens, i + 2, &format!("${name}"));
                        }
                        _ => {}
                    }
                }
                self.push(Kind::Var { segment, glue }, span, format!("${name}"), None);
                i + 2
            }
            Some(TokenTree::Group(inner)) if inner.delimiter() == Delimiter::Parenthesis => {
                self.repetition(tokens, i + 1, "$")
            }
            _ => {
                self.push(Kind::Other, span, "$", Some((group, i, i)));
                i + 1
            }
        }
    }

    /// A repetition whose parenthesis is at `at`, after `dollar`; returns the next index.
    fn repetition(&mut self, tokens: &[TokenTree], at: usize, dollar: &str) -> usize {
        let TokenTree::Group(inner) = &tokens[at] else {
            return at + 1;
        };
        let span = tokens[at - 1].span();
        // `$(...) op`, `$(...) :: op` or `$(...) sep op`; a `$d(...)` without one is a call.
        let (separator, op, next): (Option<&[TokenTree]>, char, usize) =
            if is_op(tokens.get(at + 1)) {
                (None, op_char(&tokens[at + 1]), at + 2)
            } else if is_path_sep(tokens, at + 1) && is_op(tokens.get(at + 3)) {
                (
                    Some(&tokens[at + 1..at + 3]),
                    op_char(&tokens[at + 3]),
                    at + 4,
                )
            } else if !matches!(tokens.get(at + 1), Some(TokenTree::Group(_)) | None)
                && is_op(tokens.get(at + 2))
            {
                (
                    Some(&tokens[at + 1..at + 2]),
                    op_char(&tokens[at + 2]),
                    at + 3,
                )
            } else {
                (None, '+', at + 1)
            };
        let content: Vec<TokenTree> = inner.stream().into_iter().collect();
        if let [TokenTree::Punct(d), TokenTree::Ident(name)] = content.as_slice() {
            if dollar == "$"
                && d.as_char() == '$'
                && separator.is_none()
                && op != '?'
                && self.fragments.streams.contains(&name.to_string())
            {
                self.push(Kind::Stream, span, format!("$(${name})*"), None);
                return next;
            }
        }
        let times = match (self.mode, op) {
            (Mode::Once, _) | (Mode::Fewest, '+') => 1,
            (Mode::Fewest, _) => 0,
            (Mode::Twice, _) => 2,
        };
        for time in 0..times {
            if time > 0 {
                if let Some(separator) = separator {
                    self.separator(separator);
                }
            }
            self.stream(inner.stream());
        }
        next
    }

    /// A repetition's separator, laid out between two of its rounds.
    fn separator(&mut self, separator: &[TokenTree]) {
        let span = separator[0].span();
        match separator {
            [_, _] => self.push(Kind::Sep, span, "::", None),
            [TokenTree::Ident(word)] if is_segment_word(&word.to_string()) => {
                self.push(Kind::Name, span, tokens::unraw(word), None)
            }
            [token] => self.push(Kind::Other, span, token.to_string(), None),
            _ => {}
        }
    }
}

/// The constructs refused in one flat layout.
fn judge(atoms: &[Atom]) -> Vec<Hidden> {
    // (first atom, last atom, reason) of each offending join.
    let mut joins: Vec<(usize, usize, &'static str)> = Vec::new();
    for (i, atom) in atoms.iter().enumerate() {
        let before = i.checked_sub(1).map(|k| &atoms[k]);
        let after = atoms.get(i + 1);
        match atom.kind {
            Kind::Sep => {
                if let Some(b) = before {
                    if b.touches_sep() && apart(b, atom) {
                        joins.push((i - 1, i, BUILT_PATH));
                    }
                }
                if let Some(a) = after {
                    if a.touches_sep() && apart(atom, a) && !self_item(atoms, i) {
                        joins.push((i, i + 1, BUILT_PATH));
                    }
                }
            }
            // A `tt` between two segments may be the `::` that joins them.
            Kind::Var { glue: true, .. } => {
                if let (Some(b), Some(a)) = (before, after) {
                    if b.segment() && a.segment() {
                        joins.push((i - 1, i + 1, BUILT_PATH));
                    }
                }
            }
            // A run of tokens may start or end with `::` or a segment.
            Kind::Stream => {
                if let Some(b) = before {
                    if b.segment() || b.sep_like() {
                        joins.push((i - 1, i, BUILT_PATH));
                    }
                }
                if let Some(a) = after {
                    if a.segment() || a.sep_like() {
                        joins.push((i, i + 1, BUILT_PATH));
                    }
                }
            }
            Kind::Bang => {
                if let (Some(b), Some(a)) = (before, after) {
                    if b.segment() && apart(b, atom) && a.kind == Kind::Open {
                        joins.push((i - 1, i, BUILT_MACRO_NAME));
                    }
                }
            }
            _ => {}
        }
    }
    let mut hidden = Vec::new();
    let mut reported = HashSet::new();
    for (first, last, reason) in joins {
        // The whole path the join is part of.
        let mut start = first;
        while start > 0 && atoms[start - 1].pathish() {
            start -= 1;
        }
        let mut end = last;
        while end + 1 < atoms.len() && atoms[end + 1].pathish() {
            end += 1;
        }
        if !reported.insert(start) {
            continue;
        }
        let end = if reason == BUILT_MACRO_NAME {
            last
        } else if end > last && atoms[end].kind == Kind::Sep {
            // `$a::$b::<u32>`: the turbofish's `::` is not part of the path shown.
            end - 1
        } else {
            end
        };
        hidden.push(Hidden {
            span: atoms[start].span,
            item: render(&atoms[start..=end]),
            reason,
        });
    }
    hidden
}

/// `Self::$name` (the metavariable after `::` at `sep`): an item of the type being implemented,
/// which is of this file.
fn self_item(atoms: &[Atom], sep: usize) -> bool {
    let Some(before) = sep.checked_sub(1).map(|k| &atoms[k]) else {
        return false;
    };
    let first = sep < 2 || atoms[sep - 2].kind != Kind::Sep;
    first
        && before.text == "Self"
        && !apart(before, &atoms[sep])
        && matches!(atoms.get(sep + 1).map(|a| a.kind), Some(Kind::Var { .. }))
}

fn render(atoms: &[Atom]) -> String {
    let mut out = String::new();
    let mut previous_sep = true;
    for atom in atoms {
        let sep = atom.kind == Kind::Sep;
        if !out.is_empty() && !sep && !previous_sep && atom.kind != Kind::Bang {
            out.push(' ');
        }
        out.push_str(&atom.text);
        previous_sep = sep;
    }
    out
}

fn delimiters(delimiter: Delimiter) -> (&'static str, &'static str) {
    match delimiter {
        Delimiter::Parenthesis => ("(", ")"),
        Delimiter::Brace => ("{", "}"),
        Delimiter::Bracket => ("[", "]"),
        Delimiter::None => ("", ""),
    }
}

/// A word that can be a path segment: not a keyword (but `self`, `super`, `crate`, `Self`).
fn is_segment_word(word: &str) -> bool {
    !tokens::is_keyword(word) && !matches!(word, "_" | "true" | "false")
}

/// Whether the bracket group at `i` follows `#` or `#!`.
fn is_attribute_at(tokens: &[TokenTree], i: usize) -> bool {
    let punct = |k: Option<usize>, c: char| matches!(k.and_then(|k| tokens.get(k)), Some(TokenTree::Punct(p)) if p.as_char() == c);
    punct(i.checked_sub(1), '#') || (punct(i.checked_sub(1), '!') && punct(i.checked_sub(2), '#'))
}

/// `name` if the group at `i` is `#[$name ...]`.
fn attribute_var(tokens: &[TokenTree], i: usize) -> Option<String> {
    let TokenTree::Group(group) = &tokens[i] else {
        return None;
    };
    if group.delimiter() != Delimiter::Bracket || !is_attribute_at(tokens, i) {
        return None;
    }
    let mut inner = group.stream().into_iter();
    match (inner.next(), inner.next()) {
        (Some(TokenTree::Punct(p)), Some(TokenTree::Ident(name))) if p.as_char() == '$' => {
            Some(name.to_string())
        }
        _ => None,
    }
}

/// Whether `tokens` (groups included) hold a `$` not followed by a bound name.
fn unbound_var(tokens: &[TokenTree], bound: &dyn Fn(&str) -> bool) -> bool {
    tokens.iter().enumerate().any(|(k, token)| match token {
        TokenTree::Punct(p) if p.as_char() == '$' => match tokens.get(k + 1) {
            Some(TokenTree::Ident(name)) => name != "crate" && !bound(&name.to_string()),
            _ => true,
        },
        TokenTree::Group(group) => {
            unbound_var(&group.stream().into_iter().collect::<Vec<_>>(), bound)
        }
        _ => false,
    })
}

fn is_dollar(token: Option<&TokenTree>) -> bool {
    matches!(token, Some(TokenTree::Punct(p)) if p.as_char() == '$')
}

/// A repetition operator: `*`, `+` or `?`.
fn is_op(token: Option<&TokenTree>) -> bool {
    matches!(token, Some(TokenTree::Punct(p)) if matches!(p.as_char(), '*' | '+' | '?'))
}

fn op_char(token: &TokenTree) -> char {
    match token {
        TokenTree::Punct(p) => p.as_char(),
        _ => '+',
    }
}

fn is_path_sep(tokens: &[TokenTree], i: usize) -> bool {
    matches!(
        (tokens.get(i), tokens.get(i + 1)),
        (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
            if a.as_char() == ':' && a.spacing() == Spacing::Joint && b.as_char() == ':'
    )
}
