//! The rules check: which building blocks a learner's file uses, judged against what its
//! exercise allows (the `allowed` groups of exercises.toml).
//!
//! The file is parsed with syn and walked once. Every path (in expressions, types, patterns,
//! bounds, impl headers, generic arguments, attributes, `use` trees and macro input) is resolved
//! to what it names ([`scope`]) and judged ([`policy`]); macro input, which syn leaves as tokens,
//! is read by [`tokens`]. FFI, inline assembly, linker attributes, `include!`-family macros and
//! out-of-line modules are refused wherever they appear.
//!
//! Macros are not expanded: what a `macro_rules!` body writes is judged as written, and what an
//! invocation passes is judged where it is passed. That sees everything the compiler will, except
//! what a body puts together from pieces written apart, so that is refused instead, on the line
//! that does it ([`transcribe`]): a metavariable as a path segment (`$a::$b::$c`,
//! `$root::sync::Mutex`, `std::$m::Mutex`, `blocks::sync::$item`, `$crate::$m`, `$p::x` for a
//! `path` or `ty` fragment), a repetition with `::` as separator or edge (`$($s)::*`,
//! `std $(::$s)*`), a `tt` that may be the `::` between two segments (`std $sep sync`), a run of
//! `tt`s glued onto a name (`std $($rest)*`), a `$` passed in to write another macro's
//! metavariables (`$d($d s)::*`), a macro named by an argument (`$m!(...)`), an attribute named
//! by an argument (`#[$a]` unless matched as a whole `#[...]`), and a `use` built from arguments. Metavariables used whole (an expression, a type `$t` or `<$t>::new`, an item's
//! name, a field, `Self::$variant`, a forwarded `$($t)*`) stay allowed. Macros from other crates
//! (`paste!`) and compiler ones that make names (`concat_idents!`) are refused as unknown.

mod policy;
mod scope;
#[cfg(test)]
mod tests;
mod tokens;
mod transcribe;

use std::collections::HashSet;

use proc_macro2::{Span, TokenStream};
use syn::punctuated::Punctuated;
use syn::visit::{self, Visit};

use policy::{Policy, Verdict};
use scope::{Position, Resolved, ScopeId, ScopeTree};
use tokens::{Found, Segment};

/// One use of something the exercise may not use.
///
/// `line` and `column` are 1-based, as rustc prints them; `item` is the thing as written, with
/// what it resolves to when that differs (`s::sync::Mutex (= std::sync::Mutex)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub line: usize,
    pub column: usize,
    pub item: String,
    pub reason: String,
}

/// Checks one student source file. `allowed` holds the exercise's groups from exercises.toml
/// ("atomic", "futex", "thread", "time", "lock", "mutex", "condvar").
/// Err(message) if the file does not parse as Rust (the build will report it anyway).
pub fn check(source: &str, allowed: &[String]) -> Result<Vec<Violation>, String> {
    let file = syn::parse_file(source).map_err(|error| {
        let at = error.span().start();
        format!("line {}, column {}: {error}", at.line, at.column + 1)
    })?;
    let tree = ScopeTree::build(&file);
    let policy = Policy::new(allowed);
    let mut checker = Checker {
        tree: &tree,
        policy: &policy,
        scope: scope::ROOT,
        generics: Vec::new(),
        found: Vec::new(),
    };
    checker.visit_file(&file);
    let mut found = checker.found;
    found.sort_by_key(|v| (v.line, v.column));
    let mut seen = HashSet::new();
    found.retain(|v| seen.insert((v.line, v.item.clone())));
    Ok(found)
}

const FFI: &str = "FFI is not allowed: exercises call only Rust code";

/// The second pass: walks the file in its scopes and reports what the policy refuses.
struct Checker<'a> {
    tree: &'a ScopeTree,
    policy: &'a Policy,
    scope: ScopeId,
    /// Generic parameters in scope: `T::default()` names no crate.
    generics: Vec<String>,
    found: Vec<Violation>,
}

impl Checker<'_> {
    fn report(&mut self, span: Span, item: impl Into<String>, reason: impl Into<String>) {
        let at = span.start();
        self.found.push(Violation {
            line: at.line,
            column: at.column + 1,
            item: item.into(),
            reason: reason.into(),
        });
    }

    /// What a path reaches outside this file, and the verdict on it; `None` if it stays inside.
    fn judge(
        &self,
        path: &[String],
        leading_colon: bool,
        position: Position,
    ) -> Option<(Vec<String>, Verdict)> {
        let resolved = self
            .tree
            .resolve(self.scope, leading_colon, path, &self.generics, position);
        match resolved {
            Resolved::External(path) => {
                let verdict = self.policy.classify(&path);
                Some((path, verdict))
            }
            // Refused only if every glob it may come from is: a forbidden glob is reported
            // where it is imported anyway.
            Resolved::Glob(paths) => {
                let mut judged = paths.into_iter().map(|path| {
                    let verdict = self.policy.classify(&path);
                    (path, verdict)
                });
                let first = judged.next()?;
                Some(
                    judged
                        .find(|(_, verdict)| !matches!(verdict, Verdict::Forbidden(_)))
                        .unwrap_or(first),
                )
            }
            Resolved::Local | Resolved::Unknown => None,
        }
    }

    /// Judges a path written in code or macro input; reports it if forbidden.
    fn path(&mut self, segments: &[Segment], leading_colon: bool, hidden_import: bool) {
        let names = names(segments);
        let Some((resolved, verdict)) = self.judge(&names, leading_colon, Position::Path) else {
            return;
        };
        let written = display(leading_colon, &names);
        match verdict {
            Verdict::Forbidden(reason) => {
                self.report(segments[0].1, shown(&written, &resolved, ""), reason)
            }
            Verdict::Container if hidden_import => self.report(
                segments[0].1,
                shown(&written, &resolved, ""),
                "a `use` or rename of std or blocks inside a macro hides what is used: \
                 write it outside the macro",
            ),
            _ => {}
        }
    }

    /// Judges the imports of a `use` tree, one leaf at a time.
    fn use_tree(&mut self, tree: &syn::UseTree, leading_colon: bool, prefix: &mut Vec<String>) {
        let leaf = |checker: &mut Self, last: Option<&syn::Ident>, span: Span, glob: bool| {
            let mut path = prefix.clone();
            path.extend(last.filter(|i| *i != "self").map(tokens::unraw));
            if let Some((resolved, Verdict::Forbidden(reason))) =
                checker.judge(&path, leading_colon, Position::Use)
            {
                let star = if glob { "::*" } else { "" };
                let written = display(leading_colon, &path);
                checker.report(span, shown(&written, &resolved, star), reason);
            }
        };
        match tree {
            syn::UseTree::Path(path) => {
                prefix.push(tokens::unraw(&path.ident));
                self.use_tree(&path.tree, leading_colon, prefix);
                prefix.pop();
            }
            syn::UseTree::Name(name) => leaf(self, Some(&name.ident), name.ident.span(), false),
            syn::UseTree::Rename(rename) => {
                leaf(self, Some(&rename.ident), rename.ident.span(), false)
            }
            syn::UseTree::Glob(glob) => leaf(self, None, glob.star_token.span, true),
            syn::UseTree::Group(group) => {
                for tree in &group.items {
                    self.use_tree(tree, leading_colon, prefix);
                }
            }
        }
    }

    /// Judges the name of an invoked macro.
    fn macro_path(&mut self, segments: &[Segment], leading_colon: bool) {
        let names = names(segments);
        let span = segments[0].1;
        let written = display(leading_colon, &names);
        let last = names.last().map(String::as_str).unwrap_or_default();
        if names.len() == 1 && !leading_colon {
            if last == "macro_rules" || self.tree.is_local_macro(last) {
                return;
            }
            let resolved = self
                .tree
                .resolve(self.scope, false, &names, &[], Position::Macro);
            if resolved == Resolved::Unknown {
                // Not declared nor imported here: one of std's built-in macros, or nothing.
                if let Some(reason) = policy::forbidden_macro(last) {
                    self.report(span, format!("{written}!"), reason);
                } else if !policy::allowed_macro(last) {
                    let reason = "unknown macro: only std's everyday macros and this file's \
                                  macro_rules! may be used";
                    self.report(span, format!("{written}!"), reason);
                }
                return;
            }
        }
        let Some((resolved, verdict)) = self.judge(&names, leading_colon, Position::Macro) else {
            return;
        };
        // `core::arch::asm!` or `std::prelude::v1::include_str!` is still asm! or include_str!.
        let builtin = resolved[0] != "blocks" && policy::is_known_crate(&resolved[0]);
        let reason = match (verdict, policy::forbidden_macro(last)) {
            (_, Some(reason)) if builtin => reason.to_string(),
            (Verdict::Forbidden(reason), _) => reason,
            _ => return,
        };
        self.report(span, shown(&written, &resolved, "!"), reason);
    }

    /// Judges everything found in tokens syn leaves unparsed (macro input, attribute arguments).
    fn tokens(&mut self, tokens: TokenStream) {
        for found in tokens::scan(tokens) {
            match found {
                Found::Path {
                    segments,
                    leading_colon,
                    hidden_import,
                } => self.path(&segments, leading_colon, hidden_import),
                Found::Macro {
                    segments,
                    leading_colon,
                } => self.macro_path(&segments, leading_colon),
                // The brackets' content is scanned as a group of its own: only the name here.
                Found::Attribute(tokens) => {
                    if let Ok(meta) = syn::parse2::<syn::Meta>(tokens) {
                        self.attribute(&meta, false);
                    }
                }
                Found::Extern { abi, span } => {
                    let abi = abi.unwrap_or_else(|| "C".to_string());
                    if abi != "Rust" {
                        self.report(span, format!("extern \"{abi}\""), FFI);
                    }
                }
                Found::ExternCrate { name, span } => self.extern_crate(&name, span),
                Found::OutOfLineMod { name, span } => self.out_of_line_mod(&name, span),
                Found::ImportFromArguments(span) => self.report(
                    span,
                    "use $...",
                    "a macro that builds imports from its arguments hides what is used: \
                     write the use outside the macro",
                ),
                Found::Hidden(hidden) => self.report(hidden.span, hidden.item, hidden.reason),
                Found::Name(_) | Found::MacroRules(_) => {}
            }
        }
    }

    /// Judges an attribute's name, the attributes inside `cfg_attr(...)` and `unsafe(...)`, and
    /// (if `arguments`) the paths and macros in its arguments.
    fn attribute(&mut self, meta: &syn::Meta, arguments: bool) {
        if let Some(ident) = meta.path().get_ident() {
            let name = tokens::unraw(ident);
            if let Some(reason) = policy::forbidden_attribute(&name) {
                self.report(ident.span(), format!("#[{name}]"), reason);
            }
            if let (syn::Meta::List(list), "cfg_attr" | "unsafe") = (meta, name.as_str()) {
                let parser = Punctuated::<syn::Meta, syn::Token![,]>::parse_terminated;
                if let Ok(nested) = list.parse_args_with(parser) {
                    // cfg_attr's first argument is the condition.
                    let skip = usize::from(name == "cfg_attr");
                    for meta in nested.iter().skip(skip) {
                        self.attribute(meta, false);
                    }
                }
            }
        }
        if let (syn::Meta::List(list), true) = (meta, arguments) {
            self.tokens(list.tokens.clone());
        }
    }

    fn extern_crate(&mut self, name: &str, span: Span) {
        if !matches!(name, "std" | "core" | "alloc" | "blocks" | "self") {
            self.report(
                span,
                format!("extern crate {name}"),
                "other crates are not allowed: exercises use only std's basics and blocks",
            );
        }
    }

    fn out_of_line_mod(&mut self, name: &str, span: Span) {
        self.report(
            span,
            format!("mod {name};"),
            "out-of-line modules read other files: an exercise is this one file",
        );
    }

    fn abi(&mut self, abi: &syn::Abi) {
        let name = abi
            .name
            .as_ref()
            .map_or("C".to_string(), syn::LitStr::value);
        if name != "Rust" {
            self.report(abi.extern_token.span, format!("extern \"{name}\""), FFI);
        }
    }

    /// Runs `walk` with `generics` in scope.
    fn with_generics(&mut self, generics: Option<&syn::Generics>, walk: impl FnOnce(&mut Self)) {
        let outer = self.generics.len();
        for param in generics.into_iter().flat_map(|g| &g.params) {
            match param {
                syn::GenericParam::Type(t) => self.generics.push(tokens::unraw(&t.ident)),
                syn::GenericParam::Const(c) => self.generics.push(tokens::unraw(&c.ident)),
                syn::GenericParam::Lifetime(_) => {}
            }
        }
        walk(self);
        self.generics.truncate(outer);
    }

    /// Runs `walk` in `scope`, if the node has one.
    fn within(&mut self, scope: Option<ScopeId>, walk: impl FnOnce(&mut Self)) {
        let outer = self.scope;
        self.scope = scope.unwrap_or(outer);
        walk(self);
        self.scope = outer;
    }

    /// `<T>::name` (a qualified path at position 0): its segments are not rooted in a name.
    fn qualified_tail(&mut self, qself: &syn::QSelf, path: &syn::Path) {
        self.visit_qself(qself);
        for segment in &path.segments {
            self.visit_path_segment(segment);
        }
    }
}

impl<'ast> Visit<'ast> for Checker<'_> {
    fn visit_item(&mut self, node: &'ast syn::Item) {
        if only_for_tests(item_attrs(node)) {
            return;
        }
        match node {
            syn::Item::Use(item) => {
                self.use_tree(&item.tree, item.leading_colon.is_some(), &mut Vec::new())
            }
            syn::Item::ExternCrate(item) => {
                self.extern_crate(&tokens::unraw(&item.ident), item.extern_token.span)
            }
            syn::Item::ForeignMod(item) => self.abi(&item.abi),
            syn::Item::Mod(item) if item.content.is_none() => {
                self.out_of_line_mod(&tokens::unraw(&item.ident), item.mod_token.span)
            }
            syn::Item::Verbatim(tokens) => self.tokens(tokens.clone()),
            _ => {}
        }
        let generics = match node {
            syn::Item::Fn(item) => Some(&item.sig.generics),
            syn::Item::Enum(item) => Some(&item.generics),
            syn::Item::Impl(item) => Some(&item.generics),
            syn::Item::Struct(item) => Some(&item.generics),
            syn::Item::Trait(item) => Some(&item.generics),
            syn::Item::TraitAlias(item) => Some(&item.generics),
            syn::Item::Type(item) => Some(&item.generics),
            syn::Item::Union(item) => Some(&item.generics),
            _ => None,
        };
        self.with_generics(generics, |checker| visit::visit_item(checker, node));
    }

    fn visit_impl_item(&mut self, node: &'ast syn::ImplItem) {
        let (attrs, generics) = match node {
            syn::ImplItem::Fn(item) => (&item.attrs, Some(&item.sig.generics)),
            syn::ImplItem::Type(item) => (&item.attrs, Some(&item.generics)),
            syn::ImplItem::Const(item) => (&item.attrs, Some(&item.generics)),
            syn::ImplItem::Macro(item) => (&item.attrs, None),
            syn::ImplItem::Verbatim(tokens) => return self.tokens(tokens.clone()),
            _ => return visit::visit_impl_item(self, node),
        };
        if only_for_tests(attrs) {
            return;
        }
        self.with_generics(generics, |checker| visit::visit_impl_item(checker, node));
    }

    fn visit_trait_item(&mut self, node: &'ast syn::TraitItem) {
        let (attrs, generics) = match node {
            syn::TraitItem::Fn(item) => (&item.attrs, Some(&item.sig.generics)),
            syn::TraitItem::Type(item) => (&item.attrs, Some(&item.generics)),
            syn::TraitItem::Const(item) => (&item.attrs, Some(&item.generics)),
            syn::TraitItem::Macro(item) => (&item.attrs, None),
            syn::TraitItem::Verbatim(tokens) => return self.tokens(tokens.clone()),
            _ => return visit::visit_trait_item(self, node),
        };
        if only_for_tests(attrs) {
            return;
        }
        self.with_generics(generics, |checker| visit::visit_trait_item(checker, node));
    }

    // Syntax syn does not know is kept as tokens: read like macro input.
    fn visit_expr(&mut self, node: &'ast syn::Expr) {
        match node {
            syn::Expr::Verbatim(tokens) => self.tokens(tokens.clone()),
            _ => visit::visit_expr(self, node),
        }
    }

    fn visit_type(&mut self, node: &'ast syn::Type) {
        match node {
            syn::Type::Verbatim(tokens) => self.tokens(tokens.clone()),
            _ => visit::visit_type(self, node),
        }
    }

    fn visit_pat(&mut self, node: &'ast syn::Pat) {
        match node {
            syn::Pat::Verbatim(tokens) => self.tokens(tokens.clone()),
            _ => visit::visit_pat(self, node),
        }
    }

    fn visit_foreign_item(&mut self, node: &'ast syn::ForeignItem) {
        match node {
            syn::ForeignItem::Verbatim(tokens) => self.tokens(tokens.clone()),
            _ => visit::visit_foreign_item(self, node),
        }
    }

    fn visit_item_mod(&mut self, node: &'ast syn::ItemMod) {
        let scope = self.tree.scope_of_mod(node);
        self.within(scope, |checker| visit::visit_item_mod(checker, node));
    }

    fn visit_block(&mut self, node: &'ast syn::Block) {
        let scope = self.tree.scope_of_block(node);
        self.within(scope, |checker| visit::visit_block(checker, node));
    }

    fn visit_path(&mut self, node: &'ast syn::Path) {
        let segments: Vec<Segment> = node
            .segments
            .iter()
            .map(|s| (tokens::unraw(&s.ident), s.ident.span()))
            .collect();
        if !segments.is_empty() {
            self.path(&segments, node.leading_colon.is_some(), false);
        }
        visit::visit_path(self, node);
    }

    fn visit_type_path(&mut self, node: &'ast syn::TypePath) {
        match &node.qself {
            Some(qself) if qself.position == 0 => self.qualified_tail(qself, &node.path),
            _ => visit::visit_type_path(self, node),
        }
    }

    fn visit_expr_path(&mut self, node: &'ast syn::ExprPath) {
        match &node.qself {
            Some(qself) if qself.position == 0 => {
                for attr in &node.attrs {
                    self.visit_attribute(attr);
                }
                self.qualified_tail(qself, &node.path);
            }
            _ => visit::visit_expr_path(self, node),
        }
    }

    fn visit_signature(&mut self, node: &'ast syn::Signature) {
        if let Some(abi) = &node.abi {
            self.abi(abi);
        }
        visit::visit_signature(self, node);
    }

    fn visit_type_bare_fn(&mut self, node: &'ast syn::TypeBareFn) {
        if let Some(abi) = &node.abi {
            self.abi(abi);
        }
        visit::visit_type_bare_fn(self, node);
    }

    fn visit_attribute(&mut self, node: &'ast syn::Attribute) {
        self.attribute(&node.meta, true);
        visit::visit_attribute(self, node);
    }

    fn visit_macro(&mut self, node: &'ast syn::Macro) {
        let segments: Vec<Segment> = node
            .path
            .segments
            .iter()
            .map(|s| (tokens::unraw(&s.ident), s.ident.span()))
            .collect();
        if !segments.is_empty() {
            self.macro_path(&segments, node.path.leading_colon.is_some());
        }
        if node.path.is_ident("macro_rules") {
            for hidden in transcribe::macro_rules(node.tokens.clone()) {
                self.report(hidden.span, hidden.item, hidden.reason);
            }
        }
        self.tokens(node.tokens.clone());
    }
}

/// Whether `#[cfg(...)]` keeps these attributes' item out of every build but `cargo test`'s.
///
/// Sound because the grader builds the learner's crate with `cargo build` (test off) as a
/// dependency of the checks: such items are never part of what is graded. Only a condition that
/// requires `test` counts (`test`, `all(test, ..)`); `any(test, unix)` or `not(test)` do not.
fn only_for_tests(attrs: &[syn::Attribute]) -> bool {
    fn requires_test(meta: &syn::Meta) -> bool {
        match meta {
            syn::Meta::Path(path) => path.is_ident("test"),
            syn::Meta::List(list) if list.path.is_ident("all") || list.path.is_ident("any") => {
                let parser = Punctuated::<syn::Meta, syn::Token![,]>::parse_terminated;
                let Ok(nested) = list.parse_args_with(parser) else {
                    return false;
                };
                if list.path.is_ident("all") {
                    nested.iter().any(requires_test)
                } else {
                    !nested.is_empty() && nested.iter().all(requires_test)
                }
            }
            _ => false,
        }
    }
    attrs.iter().any(|attr| {
        attr.path().is_ident("cfg")
            && attr
                .parse_args::<syn::Meta>()
                .is_ok_and(|meta| requires_test(&meta))
    })
}

fn item_attrs(item: &syn::Item) -> &[syn::Attribute] {
    match item {
        syn::Item::Const(i) => &i.attrs,
        syn::Item::Enum(i) => &i.attrs,
        syn::Item::ExternCrate(i) => &i.attrs,
        syn::Item::Fn(i) => &i.attrs,
        syn::Item::ForeignMod(i) => &i.attrs,
        syn::Item::Impl(i) => &i.attrs,
        syn::Item::Macro(i) => &i.attrs,
        syn::Item::Mod(i) => &i.attrs,
        syn::Item::Static(i) => &i.attrs,
        syn::Item::Struct(i) => &i.attrs,
        syn::Item::Trait(i) => &i.attrs,
        syn::Item::TraitAlias(i) => &i.attrs,
        syn::Item::Type(i) => &i.attrs,
        syn::Item::Union(i) => &i.attrs,
        syn::Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

fn names(segments: &[Segment]) -> Vec<String> {
    segments.iter().map(|(name, _)| name.clone()).collect()
}

fn display(leading_colon: bool, path: &[String]) -> String {
    let colons = if leading_colon { "::" } else { "" };
    format!("{colons}{}", path.join("::"))
}

/// `written`, and what it resolves to when that says more.
fn shown(written: &str, resolved: &[String], suffix: &str) -> String {
    let resolved = format!("{}{suffix}", resolved.join("::"));
    let written = format!("{written}{suffix}");
    if written.trim_start_matches("::") == resolved {
        written
    } else {
        format!("{written} (= {resolved})")
    }
}
