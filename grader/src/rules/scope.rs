//! Name resolution for one file: what a path's first segment names, through `use`s (renames,
//! nested trees, globs), `extern crate` aliases, local modules and `self`/`super`/`crate`.
//!
//! This is a small model of rustc's, enough to tell whether a path ends in a crate and where:
//! a module sees its own names (and its globs'), a block also sees its enclosing scope's, and
//! names nothing defines fall back on generics, the prelude and then the crates.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use syn::visit::{self, Visit};

use super::policy;
use super::tokens::{self, Found};

pub(crate) type ScopeId = usize;

/// The crate root.
pub(crate) const ROOT: ScopeId = 0;

/// Bounds chains of imports (`use a as b; use b as a;` must not loop).
const MAX_DEPTH: usize = 32;

/// What a path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// A path into a crate, by the crate's real name: `["std", "sync", "Mutex"]`.
    External(Vec<String>),
    /// One of these, through glob imports whose contents this check does not know
    /// (`use std::sync::*;` then `Mutex::new()`).
    Glob(Vec<Vec<String>>),
    /// Something of this file (module, type, function, variant...), a generic parameter, `Self`
    /// or a prelude item.
    Local,
    /// A lone name nothing declares: a local variable, a function parameter...
    Unknown,
}

/// A use path, or a path with more than one segment, can only start with a name in scope or a
/// crate; a lone name in an expression may be a variable; a lone macro name is either declared
/// (imported) in scope or a built-in the caller knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Position {
    Use,
    Path,
    Macro,
}

/// What a name or path leads to, inside the resolver.
#[derive(Debug, Clone)]
enum Target {
    Module(ScopeId),
    Enum(Vec<String>),
    Local,
    External(Vec<String>),
    Glob(Vec<Vec<String>>),
    Unknown,
}

impl Target {
    /// Preference among a name's bindings in the type, value and macro namespaces: the one that
    /// reaches furthest outside the file.
    fn rank(&self) -> u8 {
        match self {
            Target::External(_) => 5,
            Target::Glob(_) => 4,
            Target::Module(_) => 3,
            Target::Enum(_) => 2,
            Target::Local => 1,
            Target::Unknown => 0,
        }
    }
}

#[derive(Debug, Clone)]
enum Binding {
    Module(ScopeId),
    Enum(Vec<String>),
    Item,
    /// `use path as name;`, resolved on demand in the scope that declares it.
    Import(UsePath),
    /// `extern crate name as alias;`
    Crate(String),
}

#[derive(Debug, Clone)]
struct UsePath {
    leading_colon: bool,
    segments: Vec<String>,
}

#[derive(Debug)]
struct Scope {
    /// The scope whose names are also visible here: only a block has one (a module does not see
    /// its parent's names).
    parent: Option<ScopeId>,
    /// The nearest module (`self::`) and its parent module (`super::`).
    module: ScopeId,
    super_module: Option<ScopeId>,
    names: HashMap<String, Vec<Binding>>,
    globs: Vec<UsePath>,
}

/// The scopes of one file.
pub(crate) struct ScopeTree {
    scopes: Vec<Scope>,
    /// Scopes of inline modules and of item-declaring blocks, by the syn node's address: the
    /// checker walks the same tree and finds them again.
    nodes: HashMap<usize, ScopeId>,
    /// `extern crate name as alias;` anywhere: alias -> name.
    crates: HashMap<String, String>,
    /// `macro_rules!` names, wherever declared (macro scoping is textual, not by module).
    macros: HashSet<String>,
    /// Names macros may define (items named in macro input or bodies, identifiers given to
    /// this file's macros): items this check cannot see.
    macro_made: HashSet<String>,
    memo: RefCell<HashMap<LookupKey, Option<Target>>>,
    active: RefCell<HashSet<LookupKey>>,
}

/// A name looked up in a scope, alone or with the scopes it sees.
type LookupKey = (ScopeId, String, bool);

fn addr<T>(node: &T) -> usize {
    node as *const T as usize
}

impl ScopeTree {
    pub(crate) fn build(file: &syn::File) -> ScopeTree {
        let mut tree = ScopeTree {
            scopes: Vec::new(),
            nodes: HashMap::new(),
            crates: HashMap::new(),
            macros: HashSet::new(),
            macro_made: HashSet::new(),
            memo: RefCell::new(HashMap::new()),
            active: RefCell::new(HashSet::new()),
        };
        tree.new_scope(None, None);
        tree.declare(ROOT, file.items.iter());
        let mut builder = Builder {
            tree: &mut tree,
            current: ROOT,
            invocations: Vec::new(),
        };
        builder.visit_file(file);
        // Identifiers given to this file's own macros may name items those macros define.
        let invocations = std::mem::take(&mut builder.invocations);
        for (name, idents) in invocations {
            if tree.macros.contains(&name) {
                tree.macro_made.extend(idents);
            }
        }
        tree
    }

    /// The scope of an inline module, or of a block that declares items.
    pub(crate) fn scope_of_mod(&self, node: &syn::ItemMod) -> Option<ScopeId> {
        self.nodes.get(&addr(node)).copied()
    }

    pub(crate) fn scope_of_block(&self, node: &syn::Block) -> Option<ScopeId> {
        self.nodes.get(&addr(node)).copied()
    }

    /// Whether `name!` may be a macro defined in this file.
    pub(crate) fn is_local_macro(&self, name: &str) -> bool {
        self.macros.contains(name)
    }

    /// What `path` names when written in `scope`, with `generics` the generic parameters in scope.
    pub(crate) fn resolve(
        &self,
        scope: ScopeId,
        leading_colon: bool,
        path: &[String],
        generics: &[String],
        position: Position,
    ) -> Resolved {
        match self.target(scope, leading_colon, path, generics, position, 0) {
            Target::External(path) => Resolved::External(path),
            Target::Glob(paths) => Resolved::Glob(paths),
            Target::Module(_) | Target::Enum(_) | Target::Local => Resolved::Local,
            Target::Unknown => Resolved::Unknown,
        }
    }

    fn target(
        &self,
        scope: ScopeId,
        leading_colon: bool,
        path: &[String],
        generics: &[String],
        position: Position,
        depth: usize,
    ) -> Target {
        let Some((first, rest)) = path.split_first() else {
            return Target::Unknown;
        };
        if depth > MAX_DEPTH {
            return Target::Unknown;
        }
        if leading_colon {
            return self.krate(first, rest, depth);
        }
        let module = self.scopes[scope].module;
        match first.as_str() {
            "crate" => return self.descend(ROOT, rest, depth),
            "self" => return self.descend(module, rest, depth),
            "super" => return self.descend(module, path, depth),
            "Self" => return Target::Local,
            _ => {}
        }
        if generics.contains(first) {
            return Target::Local;
        }
        if let Some(found) = self.lookup(scope, first, true, depth) {
            return self.extend(found, rest, depth);
        }
        if position == Position::Macro && rest.is_empty() {
            return Target::Unknown;
        }
        if policy::is_prelude(first) || policy::is_tool(first) {
            return Target::Local;
        }
        if self.crates.contains_key(first) || policy::is_known_crate(first) {
            return self.krate(first, rest, depth);
        }
        let rooted = !rest.is_empty() || position == Position::Use;
        // Types, traits and enums are capitalized, crates never are: only the former are taken
        // to come from a glob this check cannot see into.
        if rooted && first.starts_with(|c: char| c.is_ascii_uppercase()) {
            let mut opaque = Vec::new();
            self.opaque_globs(scope, &mut HashSet::new(), &mut opaque, depth);
            if !opaque.is_empty() {
                let paths = opaque
                    .into_iter()
                    .map(|glob| [glob, path.to_vec()].concat());
                return Target::Glob(paths.collect());
            }
        }
        if self.macro_made.contains(first) {
            return Target::Local;
        }
        if rooted {
            // Not declared here, not in the prelude: another crate.
            Target::External(path.to_vec())
        } else {
            Target::Unknown
        }
    }

    /// `name::rest` where `name` is a crate or an `extern crate` alias.
    fn krate(&self, name: &str, rest: &[String], depth: usize) -> Target {
        let real = self.crates.get(name).map_or(name, String::as_str);
        if real == "self" {
            return self.descend(ROOT, rest, depth);
        }
        let mut path = vec![real.to_string()];
        path.extend_from_slice(rest);
        Target::External(path)
    }

    /// `rest` looked up inside module `module`.
    fn descend(&self, module: ScopeId, rest: &[String], depth: usize) -> Target {
        let Some((first, rest)) = rest.split_first() else {
            return Target::Module(module);
        };
        if first == "super" {
            let parent = self.scopes[module].super_module.unwrap_or(ROOT);
            return self.descend(parent, rest, depth);
        }
        match self.lookup(module, first, false, depth) {
            Some(found) => self.extend(found, rest, depth),
            // Declared where this check cannot see (by a macro), or not at all: still local.
            None => Target::Local,
        }
    }

    /// What `target::rest` leads to.
    fn extend(&self, target: Target, rest: &[String], depth: usize) -> Target {
        if rest.is_empty() {
            return target;
        }
        match target {
            Target::Module(module) => self.descend(module, rest, depth + 1),
            Target::External(mut path) => {
                path.extend_from_slice(rest);
                Target::External(path)
            }
            Target::Glob(paths) => Target::Glob(
                paths
                    .into_iter()
                    .map(|path| [path, rest.to_vec()].concat())
                    .collect(),
            ),
            Target::Enum(_) | Target::Local => Target::Local,
            Target::Unknown => Target::Unknown,
        }
    }

    /// `name` in `scope` and (if `chain`) the scopes it sees, explicit names before globs at
    /// each level. Memoized, so that many globs cannot make resolution exponential, and cut
    /// when a lookup needs itself (`use a as b; use b as a;`, `mod m { pub use super::*; }`).
    fn lookup(&self, scope: ScopeId, name: &str, chain: bool, depth: usize) -> Option<Target> {
        let key = (scope, name.to_string(), chain);
        if let Some(found) = self.memo.borrow().get(&key) {
            return found.clone();
        }
        if !self.active.borrow_mut().insert(key.clone()) {
            return None;
        }
        let found = self.lookup_uncached(scope, name, chain, depth);
        self.active.borrow_mut().remove(&key);
        self.memo.borrow_mut().insert(key, found.clone());
        found
    }

    fn lookup_uncached(
        &self,
        scope: ScopeId,
        name: &str,
        chain: bool,
        depth: usize,
    ) -> Option<Target> {
        let mut at = Some(scope);
        while let Some(scope) = at {
            if let Some(bindings) = self.scopes[scope].names.get(name) {
                return Some(self.bindings(scope, bindings, depth));
            }
            if let Some(found) = self.glob_lookup(scope, name, depth) {
                return Some(found);
            }
            at = self.scopes[scope].parent.filter(|_| chain);
        }
        None
    }

    /// `name` as brought into `scope` by its glob imports.
    fn glob_lookup(&self, scope: ScopeId, name: &str, depth: usize) -> Option<Target> {
        for glob in &self.scopes[scope].globs {
            match self.glob_target(scope, glob, depth) {
                Target::Module(module) => {
                    if let Some(found) = self.lookup(module, name, false, depth + 1) {
                        return Some(found);
                    }
                }
                Target::Enum(variants) if variants.iter().any(|v| v == name) => {
                    return Some(Target::Local)
                }
                Target::External(path) => {
                    let listed = match policy::children(&path) {
                        Some(children) => children.contains(&name),
                        None => policy::submodules(&path).contains(&name),
                    };
                    if listed {
                        return Some(Target::External([path, vec![name.to_string()]].concat()));
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// Crate modules glob-imported into `scope` (directly or through local modules) whose
    /// contents this check does not list.
    fn opaque_globs(
        &self,
        scope: ScopeId,
        seen: &mut HashSet<ScopeId>,
        out: &mut Vec<Vec<String>>,
        depth: usize,
    ) {
        let mut at = Some(scope);
        while let Some(scope) = at {
            for glob in &self.scopes[scope].globs {
                match self.glob_target(scope, glob, depth) {
                    Target::Module(module) if seen.insert(module) => {
                        self.opaque_globs(module, seen, out, depth + 1);
                    }
                    Target::External(path) if policy::children(&path).is_none() => out.push(path),
                    _ => {}
                }
            }
            // A module's globs apply to its own blocks, not the modules below it.
            at = self.scopes[scope].parent;
        }
    }

    fn glob_target(&self, scope: ScopeId, glob: &UsePath, depth: usize) -> Target {
        self.target(
            scope,
            glob.leading_colon,
            &glob.segments,
            &[],
            Position::Use,
            depth + 1,
        )
    }

    fn bindings(&self, scope: ScopeId, bindings: &[Binding], depth: usize) -> Target {
        bindings
            .iter()
            .map(|binding| self.binding(scope, binding, depth))
            .max_by_key(Target::rank)
            .unwrap_or(Target::Unknown)
    }

    fn binding(&self, scope: ScopeId, binding: &Binding, depth: usize) -> Target {
        match binding {
            Binding::Module(module) => Target::Module(*module),
            Binding::Enum(variants) => Target::Enum(variants.clone()),
            Binding::Item => Target::Local,
            Binding::Import(path) => self.target(
                scope,
                path.leading_colon,
                &path.segments,
                &[],
                Position::Use,
                depth + 1,
            ),
            Binding::Crate(name) => self.krate(name, &[], depth),
        }
    }

    fn new_scope(&mut self, parent: Option<ScopeId>, enclosing: Option<ScopeId>) -> ScopeId {
        let id = self.scopes.len();
        // A block belongs to its parent's module; a module is its own.
        let module = parent.map_or(id, |parent| self.scopes[parent].module);
        let super_module = enclosing.map(|scope| self.scopes[scope].module);
        self.scopes.push(Scope {
            parent,
            module,
            super_module,
            names: HashMap::new(),
            globs: Vec::new(),
        });
        id
    }

    fn bind(&mut self, scope: ScopeId, name: &syn::Ident, binding: Binding) {
        let name = tokens::unraw(name);
        if name != "_" {
            self.scopes[scope]
                .names
                .entry(name)
                .or_default()
                .push(binding);
        }
    }

    /// Declares the items of a module or block in its scope.
    fn declare<'a>(&mut self, scope: ScopeId, items: impl Iterator<Item = &'a syn::Item>) {
        for item in items {
            match item {
                syn::Item::Mod(module) => {
                    let id = self.new_scope(None, Some(scope));
                    self.nodes.insert(addr(module), id);
                    self.bind(scope, &module.ident, Binding::Module(id));
                }
                syn::Item::Use(item) => {
                    let leading_colon = item.leading_colon.is_some();
                    self.declare_use(scope, &item.tree, leading_colon, &mut Vec::new());
                }
                syn::Item::ExternCrate(item) => {
                    let name = tokens::unraw(&item.ident);
                    let alias = item.rename.as_ref().map_or(&item.ident, |(_, alias)| alias);
                    self.crates.insert(tokens::unraw(alias), name.clone());
                    self.bind(scope, alias, Binding::Crate(name));
                }
                syn::Item::Enum(item) => {
                    let variants = item.variants.iter().map(|v| tokens::unraw(&v.ident));
                    self.bind(scope, &item.ident, Binding::Enum(variants.collect()));
                }
                syn::Item::Macro(item) => {
                    if let Some(name) = &item.ident {
                        self.macros.insert(tokens::unraw(name));
                        self.macro_made.insert(tokens::unraw(name));
                        self.bind(scope, name, Binding::Item);
                    }
                }
                syn::Item::ForeignMod(item) => {
                    for foreign in &item.items {
                        let name = match foreign {
                            syn::ForeignItem::Fn(f) => &f.sig.ident,
                            syn::ForeignItem::Static(s) => &s.ident,
                            syn::ForeignItem::Type(t) => &t.ident,
                            _ => continue,
                        };
                        self.bind(scope, name, Binding::Item);
                    }
                }
                _ => {
                    if let Some(name) = item_name(item) {
                        self.bind(scope, name, Binding::Item);
                    }
                }
            }
        }
    }

    fn declare_use(
        &mut self,
        scope: ScopeId,
        tree: &syn::UseTree,
        leading_colon: bool,
        prefix: &mut Vec<String>,
    ) {
        let import = |prefix: &[String], last: Option<&syn::Ident>| {
            let mut segments = prefix.to_vec();
            segments.extend(last.filter(|i| *i != "self").map(tokens::unraw));
            Binding::Import(UsePath {
                leading_colon,
                segments,
            })
        };
        match tree {
            syn::UseTree::Path(path) => {
                prefix.push(tokens::unraw(&path.ident));
                self.declare_use(scope, &path.tree, leading_colon, prefix);
                prefix.pop();
            }
            syn::UseTree::Name(name) if name.ident == "self" => {
                // `use a::b::{self}` binds `b`.
                if let Some(last) = prefix.last() {
                    let last = syn::Ident::new(last, name.ident.span());
                    self.bind(scope, &last, import(prefix, None));
                }
            }
            syn::UseTree::Name(name) => {
                self.bind(scope, &name.ident, import(prefix, Some(&name.ident)))
            }
            syn::UseTree::Rename(rename) => {
                self.bind(scope, &rename.rename, import(prefix, Some(&rename.ident)))
            }
            syn::UseTree::Glob(_) => self.scopes[scope].globs.push(UsePath {
                leading_colon,
                segments: prefix.clone(),
            }),
            syn::UseTree::Group(group) => {
                for tree in &group.items {
                    self.declare_use(scope, tree, leading_colon, prefix);
                }
            }
        }
    }
}

fn item_name(item: &syn::Item) -> Option<&syn::Ident> {
    Some(match item {
        syn::Item::Const(i) => &i.ident,
        syn::Item::Fn(i) => &i.sig.ident,
        syn::Item::Static(i) => &i.ident,
        syn::Item::Struct(i) => &i.ident,
        syn::Item::Trait(i) => &i.ident,
        syn::Item::TraitAlias(i) => &i.ident,
        syn::Item::Type(i) => &i.ident,
        syn::Item::Union(i) => &i.ident,
        _ => return None,
    })
}

/// The first pass: creates the scopes of modules and item-declaring blocks.
struct Builder<'t> {
    tree: &'t mut ScopeTree,
    current: ScopeId,
    /// Each macro invocation's name and the lone identifiers given to it.
    invocations: Vec<(String, Vec<String>)>,
}

impl<'ast> Visit<'ast> for Builder<'_> {
    fn visit_item_mod(&mut self, node: &'ast syn::ItemMod) {
        let Some(id) = self.tree.scope_of_mod(node) else {
            return visit::visit_item_mod(self, node);
        };
        if let Some((_, items)) = &node.content {
            self.tree.declare(id, items.iter());
        }
        let outer = std::mem::replace(&mut self.current, id);
        visit::visit_item_mod(self, node);
        self.current = outer;
    }

    fn visit_block(&mut self, node: &'ast syn::Block) {
        let items: Vec<&syn::Item> = node
            .stmts
            .iter()
            .filter_map(|stmt| match stmt {
                syn::Stmt::Item(item) => Some(item),
                _ => None,
            })
            .collect();
        if items.is_empty() {
            return visit::visit_block(self, node);
        }
        let id = self.tree.new_scope(Some(self.current), None);
        self.tree.nodes.insert(addr(node), id);
        self.tree.declare(id, items.into_iter());
        let outer = std::mem::replace(&mut self.current, id);
        visit::visit_block(self, node);
        self.current = outer;
    }

    fn visit_macro(&mut self, node: &'ast syn::Macro) {
        let mut idents = Vec::new();
        for found in tokens::scan(node.tokens.clone()) {
            match found {
                Found::Name(name) => {
                    self.tree.macro_made.insert(name);
                }
                Found::MacroRules(name) => {
                    self.tree.macros.insert(name.clone());
                    self.tree.macro_made.insert(name);
                }
                Found::Path {
                    segments,
                    leading_colon: false,
                    ..
                } if segments.len() == 1 => idents.push(segments[0].0.clone()),
                _ => {}
            }
        }
        if let Some(name) = node.path.segments.last() {
            self.invocations.push((tokens::unraw(&name.ident), idents));
        }
        visit::visit_macro(self, node);
    }
}
